"""Webhooks: runs' events posted to other systems, signed, at least once, in order per run.

- :mod:`~jobport.webhooks.events`: the event types, who gets which, the message;
- :mod:`~jobport.webhooks.addresses`: which URLs may be sent to (no private addresses);
- :mod:`~jobport.webhooks.sender`: one signed POST, over a guarded, bounded client;
- :mod:`~jobport.webhooks.policy`: the retry schedule and the pause rule;
- :mod:`~jobport.webhooks.deliverer`: the loop each long-lived process runs;
- :mod:`~jobport.webhooks.service`: the use cases the faces call.

Their state lives in the state database (:mod:`jobport.store.webhooks`); what they
promise is told in ``docs/operations.md``.
"""
