"""Where chunk deliveries run: in the caller (inline), a local process pool, or Celery."""

from jobport.executors.base import Executor

__all__ = ["Executor"]
