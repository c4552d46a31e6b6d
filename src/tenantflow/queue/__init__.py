"""The queue mode: API processes send execution ids through a broker, ``tenantflow worker`` runs them.

:mod:`~tenantflow.queue.broker` builds the Taskiq broker and its one task, :mod:`~tenantflow.queue.worker`
claims, runs and keeps executions, :mod:`~tenantflow.queue.reaper` sends forgotten ones again. The
``executions`` row is the truth; a message is only a hint that an execution waits for a worker.
"""
