"""A live quota slider for notebooks: move it, and a running cgroup's CPU follows.

Map of this file:
  QuotaSlider(...)    a FloatSlider (% of one CPU) + "no limit" checkbox + a live plot
    .widget           the ipywidgets box to display (displaying the object works too)
    .set(percent)     what the slider calls: the live cgroup write of `minidocker update --cpus`
                      (not remembered in the container's config)
    .refresh()        take one sample, redraw (a background thread calls it every `interval`)
    .stop()           stop the thread; kill the deadloop and remove the cgroup if we made them
  quota_slider(...)   build one and start its thread

Point it at a running container (`quota_slider(container="web")`), or at
nothing: it then starts its own deadloop in a fresh cgroup.
"""
from __future__ import annotations

import threading
import time
import uuid

from ..kernel import cgroups
from . import deadloop
from .sampler import CpuSampler, Series, quota_shell, set_quota


class QuotaSlider:
    def __init__(self, container: str | None = None, manager: cgroups.Manager | None = None,
                 pid: int | None = None, window: float = 30.0, interval: float = 0.5,
                 start_percent: float | None = None):
        import ipywidgets as W
        self._proc = None
        self._owned = False
        if container is not None:
            from ..runtime import container as records
            c = records.lookup(container)
            manager, pid = cgroups.manager(c.id), c.state.get("Pid") or None
        if manager is None:                       # our own deadloop in our own cgroup
            manager = cgroups.manager(f"lab-slider-{uuid.uuid4().hex[:8]}")
            manager.create()
            self._owned = True
            try:
                self._proc = deadloop.start()
                manager.apply(self._proc.pid)
            except BaseException:
                if self._proc is not None:
                    deadloop.stop(self._proc)
                manager.destroy()
                raise
            pid = self._proc.pid
        self.m, self.window, self.interval = manager, window, interval
        self.sampler = CpuSampler(manager, pid)
        self.series = Series(version=manager.version)
        self.quota: float | None = None
        self.slider = W.FloatSlider(value=start_percent or 100, min=5, max=100, step=5,
                                    description="quota %", continuous_update=False,
                                    layout=W.Layout(width="60%"))
        self.unlimited = W.Checkbox(value=start_percent is None, description="no limit")
        self.label = W.HTML()
        self.out = W.Output()
        self.slider.observe(lambda ch: self._changed(), names="value")
        self.unlimited.observe(lambda ch: self._changed(), names="value")
        self.widget = W.VBox([W.HBox([self.slider, self.unlimited]), self.label, self.out])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._changed()

    def _changed(self) -> None:
        self.set(None if self.unlimited.value else self.slider.value)

    def set(self, percent: float | None) -> None:
        """Write the new quota now (cpu.cfs_quota_us on v1, cpu.max on v2)."""
        set_quota(self.m, percent)
        self.quota = percent
        shell = quota_shell(self.m.version, percent)
        self.series.events.append((time.monotonic() - self.sampler.t0, shell))
        self.label.value = f"<code>{shell}</code>"

    def refresh(self, draw: bool = True) -> None:
        """One sample; redraw the last `window` seconds."""
        import matplotlib.pyplot as plt
        from IPython import get_ipython
        from IPython.display import display
        from .plots_cgroup import plot_cpu
        self.series.samples.append(self.sampler.tick(self.quota))
        if not draw:
            return
        t_now = self.series.samples[-1].t
        view = Series(samples=[s for s in self.series.samples if s.t > t_now - self.window],
                      version=self.series.version)
        t_first = view.samples[0].t
        older = [e for e in self.series.events if e[0] <= t_first]
        view.events = ([(t_first, older[-1][1])] if older else []) + \
                      [e for e in self.series.events if e[0] > t_first]
        fig = plot_cpu(view, title="live: move the slider")
        if get_ipython() is not None:        # outside a notebook (tests) there is nowhere to show it
            with self.out:
                self.out.clear_output(wait=True)
                display(fig)
        plt.close(fig)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as e:   # the container exited, the kernel said no: show it, stop
                self.label.value = f"stopped: {e}"
                return

    def start(self) -> "QuotaSlider":
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the live plot; kill our deadloop and remove our cgroup (a container's is left alone)."""
        if hasattr(self, "_stop"):           # __init__ may fail before the thread parts exist
            self._stop.set()
        if getattr(self, "_thread", None):
            self._thread.join()
        if self._proc is not None:
            deadloop.stop(self._proc)
        if self._owned:
            self.m.destroy()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def quota_slider(container: str | None = None, **kw) -> QuotaSlider:
    """Build a QuotaSlider and start its live plot; call .stop() when done."""
    return QuotaSlider(container=container, **kw).start()
