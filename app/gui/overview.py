"""The whole recording: a decimated overview with a region that drives a detail plot.

The overview is drawn from a min/max pyramid (``app.live.decimate``) built once on a
worker thread, so an hour at 10 kHz (36 M samples) costs two points per pixel column
per redraw, each column the true envelope of its samples. Dragging the region, zooming
the detail plot or resizing either plot re-queries the pyramid for just that span at
the plot's pixel width; close enough in, the detail shows every raw sample. A dotted
cursor on the detail marks where a comment added in replay goes (``set_cursor``).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from app.gui.bridge import run_in_thread
from app.gui.comment_marks import CommentMarks
from app.gui.step_marks import step_lines
from app.gui.style import COMMENT, STIM, envelope_curve, pen, plot_columns
from app.live.decimate import MinMaxPyramid


class OverviewPlot(QWidget):
    ready = Signal()
    span_changed = Signal(float, float)    # the detail shows [t0, t1] s
    detail_clicked = Signal(float)         # a left click on the detail plot, at t s

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pyramid: MinMaxPyramid | None = None
        self.rate = 1.0
        self.stim = np.zeros(0, dtype=np.int64)
        self.queries = 0
        self.building = False              # the pyramid is being built (reading the force)
        self._updating = False

        self.overview = pg.PlotWidget(title="Whole recording (drag the region)")
        self.overview.setMouseEnabled(x=False, y=False)
        self.overview.setLabel("bottom", "time (s)")
        self.overview.setLabel("left", "mN")
        self.over_curve = envelope_curve(self.overview.getPlotItem())
        self.region = pg.LinearRegionItem(brush=(31, 78, 156, 40))
        self.region.setZValue(10)
        self.overview.addItem(self.region)
        self.detail = pg.PlotWidget(title="Detail")
        self.detail.setLabel("bottom", "time (s)")
        self.detail.setLabel("left", "force (mN)")
        self.detail.showGrid(x=True, y=True, alpha=0.25)
        self.detail.setMouseEnabled(x=True, y=False)
        self.detail_curve = envelope_curve(self.detail.getPlotItem())
        self.detail_stim = self.detail.plot(pen=pen(STIM), connect="pairs")
        # the overview is short: its labels sit lower along the lines, comments over steps
        self.over_comments = CommentMarks(self.overview.getPlotItem(), position=0.85, above=0.65)
        self.detail_comments = CommentMarks(self.detail.getPlotItem())
        self.over_steps = step_lines(self.overview.getPlotItem(), position=0.65)
        self.detail_steps = step_lines(self.detail.getPlotItem())
        self.cursor = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(COMMENT, width=1, style=Qt.DotLine))
        self.cursor.setZValue(7)
        self.cursor.hide()
        self.detail.addItem(self.cursor)
        self.info = QLabel("")

        split = QSplitter(Qt.Vertical)
        split.addWidget(self.overview)
        split.addWidget(self.detail)
        split.setSizes([160, 440])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addWidget(self.info)
        self.region.sigRegionChanged.connect(self._region_changed)
        self.detail.getPlotItem().sigXRangeChanged.connect(self._detail_zoomed)
        self.overview.getPlotItem().getViewBox().sigResized.connect(self._draw_overview)
        self.detail.getPlotItem().getViewBox().sigResized.connect(self._redraw_detail)
        self.detail.scene().sigMouseClicked.connect(self._detail_click)
        self._span: tuple[float, float] | None = None

    def set_data(self, force, sample_rate_hz: float, stim_samples=None, *, background: bool = True) -> None:
        """Build the pyramid (on a worker thread by default), then draw."""
        self.rate = float(sample_rate_hz)
        self.stim = np.asarray(stim_samples if stim_samples is not None else [], dtype=np.int64)
        self.info.setText("building overview…")
        self.building = True
        if background:
            run_in_thread(lambda: MinMaxPyramid(force), self._pyramid_ready,
                          self._pyramid_failed, name="myoforce-pyramid")
        else:
            self._pyramid_ready(MinMaxPyramid(force))

    def set_comments(self, times_s, texts) -> None:
        """The operator's comments as labelled lines at their times, on both plots."""
        self.over_comments.set(times_s, texts)
        self.detail_comments.set(times_s, texts)

    def set_steps(self, times_s, names) -> None:
        """Where each protocol step starts, as lines labelled with its name, on both plots."""
        self.over_steps.set(times_s, names)
        self.detail_steps.set(times_s, names)

    def add_under_detail(self, widget: QWidget) -> None:
        """A row right under the detail plot (replay's comment entry)."""
        self.layout().insertWidget(1, widget)

    def set_cursor(self, t_s: float | None) -> None:
        """A dotted line on the detail at ``t_s`` (where the next comment goes); None hides it."""
        if t_s is None:
            self.cursor.hide()
        else:
            self.cursor.setPos(float(t_s))
            self.cursor.show()

    def set_source(self, force) -> None:
        """The same samples read through a new handle (the file was reopened): the
        overview is kept, raw-sample queries read from ``force``. None: the file was
        closed (the view too), nothing is drawn from it any more."""
        if force is None:
            self.pyramid = None
        elif self.pyramid is not None:
            self.pyramid.data = force
            self._redraw_detail()

    def _detail_click(self, event) -> None:
        vb = self.detail.getPlotItem().getViewBox()
        pos = event.scenePos()
        if event.button() == Qt.LeftButton and vb.sceneBoundingRect().contains(pos):
            self.detail_clicked.emit(float(vb.mapSceneToView(pos).x()))

    def _pyramid_failed(self, exc: BaseException) -> None:
        self.building = False
        self.info.setText(f"overview failed: {exc}")

    def _pyramid_ready(self, pyramid: MinMaxPyramid) -> None:
        self.pyramid = pyramid
        self.building = False
        n = pyramid.n
        self._draw_overview()
        self.overview.setXRange(0, n / self.rate, padding=0.01)
        dur = n / self.rate
        self._updating = True
        self.region.setBounds((0, dur))
        self.region.setRegion((0, min(dur, 10.0)))
        self._updating = False
        self.info.setText(f"{n:,} samples, {dur:.1f} s at {self.rate:g} Hz; "
                          f"overview {pyramid.nbytes / 1e6:.1f} MB in {len(pyramid.levels)} levels")
        self.show_span(0.0, min(dur, 10.0))
        self.ready.emit()

    def _draw_overview(self, *_args) -> None:
        if self.pyramid is None:
            return
        x, y = self.pyramid.query(0, self.pyramid.n, 2 * plot_columns(self.overview))
        self.over_curve.setData(x / self.rate, y)

    def _redraw_detail(self, *_args) -> None:
        if self._span is not None:
            self.show_span(*self._span)

    def show_span(self, t0: float, t1: float) -> None:
        """Draw ``[t0, t1]`` seconds in the detail plot: the raw samples, or two points per
        pixel column (its min and max); called again when the plot is resized."""
        if self.pyramid is None:
            return
        self._span = (t0, t1)
        s0, s1 = int(t0 * self.rate), int(np.ceil(t1 * self.rate)) + 1
        x, y = self.pyramid.query(s0, s1, 2 * plot_columns(self.detail))
        self.queries += 1
        self.detail_curve.setData(x / self.rate, y)
        st = self.stim[(self.stim >= s0) & (self.stim < s1)]
        if len(y) and st.size:
            lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
            span = max(hi - lo, 1.0)
            self.detail_stim.setData(np.repeat(st / self.rate, 2),
                                     np.tile([lo - 0.08 * span, lo - 0.01 * span], st.size))
        else:
            self.detail_stim.setData([], [])
        self._updating = True
        self.detail.setXRange(t0, t1, padding=0)
        self._updating = False
        self.span_changed.emit(t0, t1)

    def _region_changed(self) -> None:
        if self._updating:
            return
        t0, t1 = self.region.getRegion()
        self.show_span(t0, t1)

    def _detail_zoomed(self, _vb, rng) -> None:
        if self._updating or self.pyramid is None:
            return
        t0, t1 = max(0.0, rng[0]), min(self.pyramid.n / self.rate, rng[1])
        self._updating = True
        self.region.setRegion((t0, t1))
        self._updating = False
        self.show_span(t0, t1)
