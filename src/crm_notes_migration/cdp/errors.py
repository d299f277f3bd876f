"""Which errors of the CDP store are transient: the store restarting, failing over, or
briefly unreachable (SPEC §6a). A job that failed on one is retried with backoff; any
other error is the job's own.

Judged by what the store says, since FerretDB reports its PostgreSQL backend's troubles
as a generic `OperationFailure` (code 1, InternalError) whose message carries them
(`... terminating connection due to administrator command (SQLSTATE 57P01)`,
`failed to connect to ...: dial error: ... connection refused`): by the exception's class,
by MongoDB's error labels and codes, then by the message.
"""

from __future__ import annotations

import re

import pymongo.errors

#: Error labels a MongoDB server or driver puts on errors worth retrying.
TRANSIENT_LABELS = frozenset(
    {"RetryableWriteError", "TransientTransactionError", "NetworkError", "RetryableError", "SystemOverloadedError"}
)
#: MongoDB codes of a server shutting down, stepping down, recovering or unreachable.
TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
        91331,  # NodeIsRecovering (FerretDB has none; a real MongoDB may)
    }
)
#: What a store (or the PostgreSQL under FerretDB) says when it is restarting or away:
#: SQLSTATE class 08 (connection), 57P01-57P03 (shutdown, crash, starting up), 53300 (too
#: many connections), 40001/40P01 (serialisation failure, deadlock), and their words.
TRANSIENT_MESSAGE = re.compile(
    r"SQLSTATE (08\w{3}|57P0[123]|53300|40001|40P01)"
    r"|shut ?down|shutting down|not primary|not master|node is recovering"
    r"|connection (reset|refused|closed|timed out)|broken pipe|unexpected EOF|conn closed"
    r"|failed to connect|dial error|i/o timeout|server closed the connection"
    r"|the database system is (starting up|shutting down|in recovery mode|not yet accepting)"
    r"|too many (clients|connections)",
    re.IGNORECASE,
)


def is_transient(exc: BaseException) -> bool:
    """Whether the store's error is its being away or restarting (worth a retry later)."""
    if not isinstance(exc, pymongo.errors.PyMongoError):
        return False
    if isinstance(exc, pymongo.errors.ConnectionFailure | pymongo.errors.WaitQueueTimeoutError):
        return True  # AutoReconnect, ServerSelectionTimeoutError, NetworkTimeout, ...
    if isinstance(exc, pymongo.errors.DuplicateKeyError):
        return False
    if any(exc.has_error_label(label) for label in TRANSIENT_LABELS):
        return True
    if isinstance(exc, pymongo.errors.OperationFailure) and exc.code in TRANSIENT_CODES:
        return True
    return bool(TRANSIENT_MESSAGE.search(str(exc)))
