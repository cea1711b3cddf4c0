"""A parallel map built on multiprocessing.Process and Pipe only, so it works inside AWS Lambda.

Lambda has no /dev/shm, so everything in multiprocessing that needs a POSIX semaphore (Pool, Queue,
Lock, Manager, ProcessPoolExecutor) fails there with OSError (Errno 38). A Process talking over a Pipe
needs neither, so this is what a function can use to spread CPU-bound work over the cores it gets.

    results = parallel_map(func, items, workers=2, deadline=time.monotonic() + 60)

- Results come back in input order.
- Items are cut into chunks (``chunksize``, by default as multiprocessing.Pool.map cuts them) that are
  handed out one at a time to whichever worker is free, so uneven items still balance. Each worker
  holds at most one chunk, which also keeps both ends of every pipe from blocking on each other.
- ``deadline`` is an ABSOLUTE ``time.monotonic()`` value, not a duration, so one deadline taken from
  ``context.get_remaining_time_in_millis()`` can bound several calls in a row (``deadline_after``
  turns a duration into one). When it passes, the workers are killed and DeadlineExceeded says how many
  items had finished.
- An exception in ``func`` is raised here as WorkerError carrying the remote traceback text.
- Every worker is joined before this function returns or raises, so no zombie is left behind.
- ``workers=1`` still uses one worker process (not the calling process), so the deadline can be
  enforced and ``func`` is pickled the same way whatever the worker count. An empty ``items`` starts
  no process at all.
- ``start_method`` is passed to multiprocessing.get_context: None means the platform default (fork on
  Linux up to Python 3.13, forkserver from 3.14). Under forkserver and spawn ``func`` and the items
  must be picklable, i.e. module-level functions and plain data.
- Workers are daemon processes (like Pool's), so ``func`` itself cannot start processes.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")

# How long a worker gets to die from SIGTERM before it is sent SIGKILL.
_TERMINATE_GRACE_S = 0.5


class ParallelMapError(Exception):
    """Base of the errors parallel_map raises for failures in or of its workers."""


class WorkerError(ParallelMapError):
    """``func`` raised in a worker, or a worker died before returning its chunk."""

    def __init__(
        self,
        message: str,
        *,
        item_index: int | None,
        exception_type: str | None,
        remote_traceback: str,
        exitcode: int | None = None,
    ) -> None:
        detail = f"{message}\n\nRemote traceback:\n{remote_traceback}" if remote_traceback else message
        super().__init__(detail)
        self.item_index = item_index
        self.exception_type = exception_type
        self.remote_traceback = remote_traceback
        self.exitcode = exitcode


class DeadlineExceeded(ParallelMapError):
    """The deadline passed before every item was done; the workers were stopped."""

    def __init__(self, finished: int, total: int) -> None:
        super().__init__(f"deadline passed with {finished} of {total} items finished; workers were stopped")
        self.finished = finished
        self.total = total


def deadline_after(seconds: float) -> float:
    """The absolute monotonic deadline ``seconds`` from now, for the ``deadline`` argument."""
    return time.monotonic() + seconds


def default_chunksize(item_count: int, workers: int) -> int:
    """multiprocessing.Pool.map's choice: about four chunks per worker."""
    return max(1, math.ceil(item_count / (workers * 4)))


def parallel_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    deadline: float | None = None,
    start_method: str | None = None,
    chunksize: int | None = None,
) -> list[R]:
    """``[func(item) for item in items]`` computed by ``workers`` processes; see the module docstring."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if chunksize is not None and chunksize < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    todo = list(items)
    if not todo:
        return []
    size = chunksize or default_chunksize(len(todo), workers)
    chunks = [(start, todo[start:start + size]) for start in range(0, len(todo), size)]
    run = _Run(func, chunks, len(todo), multiprocessing.get_context(start_method))
    try:
        run.start(min(workers, len(chunks)))
        return run.collect(deadline)
    finally:
        run.stop()


class _Worker:
    __slots__ = ("busy_with", "connection", "process", "released")

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.busy_with: int | None = None
        # True once the worker was told to exit (or exited by itself after reporting an error).
        self.released = False


class _Run(Generic[T, R]):
    """One parallel_map call: its workers, the chunks still to hand out and the results so far."""

    def __init__(
        self,
        func: Callable[[T], R],
        chunks: Sequence[tuple[int, list[T]]],
        total: int,
        context: BaseContext,
    ) -> None:
        self._func = func
        self._chunks = chunks
        self._total = total
        self._context = context
        self._next_chunk = 0
        self._results: list[R | None] = [None] * total
        self._finished = 0
        self._workers: list[_Worker] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            parent_end, child_end = self._context.Pipe(duplex=True)
            # typeshed declares Process on each concrete context, not on BaseContext.
            process = self._context.Process(  # type: ignore[attr-defined]
                target=_worker_main, args=(child_end, self._func), daemon=True
            )
            try:
                process.start()
            except BaseException:
                parent_end.close()
                raise
            finally:
                # Only the worker may hold the child end, so that its death shows here as EOF.
                child_end.close()
            worker = _Worker(process, parent_end)
            self._workers.append(worker)
            self._hand_out(worker)

    def collect(self, deadline: float | None) -> list[R]:
        by_connection: dict[object, _Worker] = {worker.connection: worker for worker in self._workers}
        while self._finished < self._total:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise DeadlineExceeded(self._finished, self._total)
            busy = [worker.connection for worker in self._workers if worker.busy_with is not None]
            for connection in wait(busy, timeout):
                self._receive(by_connection[connection])
        return cast("list[R]", self._results)

    def stop(self) -> None:
        """Tell idle workers to exit, kill busy ones, and join them all."""
        for worker in self._workers:
            if worker.busy_with is not None:
                worker.process.terminate()
            elif not worker.released:
                self._release(worker)
        for worker in self._workers:
            worker.process.join(_TERMINATE_GRACE_S)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
            worker.process.close()

    def _hand_out(self, worker: _Worker) -> None:
        if self._next_chunk < len(self._chunks):
            worker.connection.send(self._chunks[self._next_chunk])
            worker.busy_with = self._next_chunk
            self._next_chunk += 1
        else:
            worker.busy_with = None
            self._release(worker)

    @staticmethod
    def _release(worker: _Worker) -> None:
        worker.released = True
        try:
            worker.connection.send(None)
        except OSError:
            worker.process.terminate()

    def _receive(self, worker: _Worker) -> None:
        assert worker.busy_with is not None
        start, expected = self._chunks[worker.busy_with]
        try:
            outcome = worker.connection.recv()
        except EOFError:
            worker.process.join(_TERMINATE_GRACE_S)
            raise WorkerError(
                f"worker pid {worker.process.pid} died (exit code {worker.process.exitcode}) while "
                f"working on items {start}..{start + len(expected) - 1}",
                item_index=None,
                exception_type=None,
                remote_traceback="",
                exitcode=worker.process.exitcode,
            ) from None
        if outcome[0] == "error":
            _, item_index, exception_type, text, remote_traceback = outcome
            # The worker exits by itself after reporting an error.
            worker.busy_with = None
            worker.released = True
            raise WorkerError(
                f"item {item_index} raised {exception_type}: {text}",
                item_index=item_index,
                exception_type=exception_type,
                remote_traceback=remote_traceback,
            )
        results = outcome[1]
        self._results[start:start + len(results)] = results
        self._finished += len(results)
        self._hand_out(worker)


def _worker_main(connection: Connection, func: Callable[[Any], Any]) -> None:
    # A forked worker inherits the parent's Python-level SIGTERM handler; the default action is what
    # lets terminate() stop it at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        while (task := connection.recv()) is not None:
            if not _work_on(connection, func, *task):
                return
    except (EOFError, BrokenPipeError):
        # The parent went away or closed the pipe: there is nobody left to work for.
        return
    finally:
        connection.close()


def _work_on(connection: Connection, func: Callable[[Any], Any], start: int, chunk: list[Any]) -> bool:
    """Run one chunk and send back its results or its first error; False once an error was sent."""
    results: list[Any] = []
    try:
        for item in chunk:
            results.append(func(item))
    except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
        failed = start + len(results)
        connection.send(("error", failed, type(error).__qualname__, str(error), traceback.format_exc()))
        return False
    try:
        connection.send(("ok", results))
    except OSError:
        # The pipe itself is broken: nothing more can be sent.
        raise
    except Exception as error:  # noqa: BLE001 - e.g. a result that cannot be pickled
        connection.send((
            "error", start, type(error).__qualname__,
            f"results of items {start}..{start + len(chunk) - 1} could not be sent back: {error}",
            traceback.format_exc(),
        ))
        return False
    return True
