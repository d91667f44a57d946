"""Qt-free live data plumbing for the GUI: the ring buffer the amplifier writes and the
redraw timer reads, the playback feeder for recorded sessions, and min/max decimation
for overviews of long recordings."""
from app.live.decimate import MinMaxPyramid, minmax_bins
from app.live.playback import Playback
from app.live.ring_buffer import Marker, RingBuffer, Snapshot

__all__ = ["Marker", "MinMaxPyramid", "Playback", "RingBuffer", "Snapshot", "minmax_bins"]
