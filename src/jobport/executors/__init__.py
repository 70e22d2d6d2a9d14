"""Where chunk deliveries run: in the caller (inline), a local process pool, or Celery."""

from jobport.executors.base import Executor, ExecutorBase, GiveUp, LostWorkers, Recovered

__all__ = ["Executor", "ExecutorBase", "GiveUp", "LostWorkers", "Recovered"]
