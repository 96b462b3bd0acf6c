"""The one exception family of the sandbox: misuse by the caller, never a candidate's behaviour."""


class SandboxError(Exception):
    """Raised for caller mistakes (bad limits, a closed sandbox, a foreign compiled module).

    Whatever a candidate module does is reported as an `ExecutionResult`, never raised.
    """
