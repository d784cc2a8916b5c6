"""Encode on a background thread, so decoding/inference and encoding overlap.

The writer's container is touched by that one thread only: video frames and the audio or
subtitle packets the reader forwards go through one bounded queue, in the order they were
produced (exactly the order of the single-threaded pipeline). The queue is bounded in items
and in bytes of queued frames, which keeps memory independent of the video's length and of
its frame size (eight 8K RGB frames would be 800 MB).
"""

from __future__ import annotations

import queue
import threading

import av
import numpy as np

_STOP = object()


class ThreadedWriter:
    """Wrap a VideoFileWriter or FrameFolderWriter; same methods, encoding in a thread.

    Args:
        writer: the writer to drive (its streams must already be set up).
        max_items: queue length (frames or packets) before the producer waits.
        max_bytes: bytes of queued frames before the producer waits (one frame is always
            let through, whatever its size).
    """

    def __init__(self, writer, max_items: int = 8, max_bytes: int = 256 * 2**20):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(max_items)
        self._max_bytes = max_bytes
        self._queued_bytes = 0
        self._room = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vsr-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain so the producer never blocks on a dead consumer
            try:
                if isinstance(item, av.Packet):
                    self.writer.mux_packet(item)
                else:
                    self.writer.write(*item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc
            finally:
                if not isinstance(item, av.Packet):
                    with self._room:
                        self._queued_bytes -= item[0].nbytes
                        self._room.notify()

    def _put(self, item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def write(self, image: np.ndarray, pts: int) -> None:
        with self._room:
            self._room.wait_for(
                lambda: self._queued_bytes == 0
                or self._queued_bytes + image.nbytes <= self._max_bytes
                or self._error is not None
            )
            self._queued_bytes += image.nbytes
        self._put((image, pts))

    def mux_packet(self, packet: av.Packet) -> None:
        self._put(packet)

    def _join(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def close(self) -> None:
        """Finish the queued work, then flush the encoder and write the trailer."""
        self._join()
        if self._error is not None:
            self.writer.abort()
            raise self._error
        self.writer.close()

    def abort(self) -> None:
        # Stop accepting work, let the thread drain what is queued without encoding it.
        if self._error is None:
            self._error = RuntimeError("aborted")
        self._join()
        self.writer.abort()
