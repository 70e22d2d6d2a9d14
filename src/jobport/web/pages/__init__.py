"""The dashboard's pages, one module each, with module-level handlers.

Each module holds an ``APIRouter`` of its routes (``router`` for the pages a
signed-in user sees, ``public`` for the rest); :func:`jobport.web.dashboard_router`
includes them under a router whose dependency hands each page its dashboard
(:mod:`jobport.web.context`).
"""
