"""Animation export: any map layer of the run so far as a GIF (or an MP4).

The app keeps no history of the maps (it would cost a layer per step per session);
:func:`replay_layer` recomputes the shocked twin of replicate 0 from its scenario and the
injected shocks (the run is deterministic: the same seed and shocks give the same
states, as the exported TOML does) and copies the layer after every step. Frames are
drawn with numpy and Pillow (the colour scale of the map, grey uninhabited cells, the
committees as circles, the month on top) and encoded by imageio: GIF always, MP4 when
imageio's ffmpeg plugin (the ``imageio-ffmpeg`` package) is installed. imageio is the
``anim`` extra, imported only when an animation is asked for.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import hex_to_rgb, unlabel_rgb

from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.simulation import Simulation

from .figures import LAYERS, _layer_style, layer_values

#: Most frames an animation holds (longer runs keep every k-th month).
MAX_FRAMES = 240
#: Smallest side of a frame in pixels (small grids are scaled up, cells stay square).
MIN_SIDE = 320
#: Animation formats: key -> (file extension, MIME type).
FORMATS = {"gif": (".gif", "image/gif"), "mp4": (".mp4", "video/mp4")}
_UNINHABITED = np.array([200, 200, 200], dtype=np.uint8)
_BAR = 18  # pixels of the title band
_REPLAYS = threading.BoundedSemaphore(1)  # one replay at a time: it builds a model


class AnimationUnavailable(RuntimeError):
    """The asked format needs a package that is not installed (message says which)."""


def available_formats() -> list[str]:
    """The animation formats this installation can write (``gif`` needs imageio; ``mp4``
    also imageio-ffmpeg)."""
    if importlib.util.find_spec("imageio") is None:
        return []
    out = ["gif"]
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        out.append("mp4")
    return out


def replay_layer(
    scenario: Scenario, shocks: Sequence[Any], steps: int, layer: str
) -> tuple[list[np.ndarray], list[int], dict[str, Any], np.ndarray]:
    """Recompute a run and copy one layer after each step.

    Parameters
    ----------
    scenario : Scenario
        The shocked twin's scenario (its own shocks included).
    shocks : sequence
        Shock configs injected in the app, in order (scheduled from the start: their
        ``at`` is when they were injected).
    steps : int
        Steps to compute (the run so far).
    layer : str
        A key of :data:`~i4p_sim.app.figures.LAYERS`.

    Returns
    -------
    frames, months, style, positions
        The layer after the kept steps (float32, NaN uninhabited), their month numbers,
        the colour scale and range of the last frame, and each kept frame's committees as
        (row, col, capacity, active) rows (a list of arrays).
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; allowed: {', '.join(LAYERS)}")
    stride = max(1, -(-int(steps) // MAX_FRAMES))
    with _REPLAYS:
        sim = Simulation(scenario, communities=False)
        try:
            model = sim.model
            for shock in shocks:
                model.shocks.add(shock)
            frames, months, lpcs = [], [], []
            for t in range(1, int(steps) + 1):
                sim.advance(t)
                if t % stride == 0 or t == steps:
                    frames.append(layer_values(model, layer))
                    months.append(t)
                    tier = model.committees
                    lpcs.append(
                        np.column_stack(
                            [tier.positions[:, 0], tier.positions[:, 1], tier.capacity, tier.active]
                        )
                        if tier.n
                        else np.zeros((0, 4))
                    )
            style = _layer_style(layer, model)
        finally:
            sim.release()
    return frames, months, style, lpcs


def colour_table(colorscale: Any, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 RGB of a plotly colour scale (``[[position, colour], ...]``, colours
    as ``#rrggbb`` or ``rgb(r, g, b)``) sampled evenly from 0 to 1; steps stay steps."""
    pos = np.array([float(p) for p, _ in colorscale])
    rgb = np.array(
        [hex_to_rgb(c) if c.startswith("#") else unlabel_rgb(c) for _, c in colorscale],
        dtype=np.float64,
    )
    x = np.linspace(0.0, 1.0, n)
    out = np.column_stack([np.interp(x, pos, rgb[:, k]) for k in range(3)])
    return out.round().astype(np.uint8)


def colourise(values: np.ndarray, style: dict[str, Any]) -> np.ndarray:
    """(H, W, 3) uint8 image of a layer with the map's colour scale; NaN is grey."""
    table = colour_table(style["colorscale"])
    lo, hi = float(style["zmin"]), float(style["zmax"])
    span = hi - lo if hi > lo else 1.0
    scaled = np.clip((np.nan_to_num(values, nan=lo) - lo) / span, 0.0, 1.0)
    rgb = table[(scaled * (len(table) - 1)).round().astype(np.intp)]
    rgb[np.isnan(values)] = _UNINHABITED
    return rgb


def frame_images(
    frames: Sequence[np.ndarray],
    months: Sequence[int],
    style: dict[str, Any],
    lpcs: Sequence[np.ndarray],
    title: str,
    *,
    block: int = 1,
) -> list[np.ndarray]:
    """Draw the frames: the layer scaled up, committees as circles (size = capacity,
    green active, grey dormant), and ``title`` with the month on a band on top.

    ``block`` pads width and height to a multiple (16 for MP4 encoders).
    """
    from PIL import Image, ImageDraw  # Pillow comes with imageio

    h, w = frames[0].shape
    scale = max(1, -(-MIN_SIDE // max(h, w)))
    width, height = w * scale, h * scale + _BAR
    width += (-width) % block
    height += (-height) % block
    out = []
    for values, month, marks in zip(frames, months, lpcs, strict=True):
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        cells = colourise(values, style).repeat(scale, axis=0).repeat(scale, axis=1)
        canvas.paste(Image.fromarray(cells), (0, _BAR))
        draw = ImageDraw.Draw(canvas)
        for row, col, capacity, active in marks:
            r = max(1.5, (2.5 + 6.5 * capacity) * w * scale / 420)  # as on the map
            x, y = (col + 0.5) * scale, (row + 0.5) * scale + _BAR
            fill = (27, 120, 55) if active else (153, 153, 153)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=(255, 255, 255))
        draw.text((4, 3), f"{title}  month {month}", fill=(20, 20, 20))
        out.append(np.asarray(canvas))
    return out


def encode(images: Sequence[np.ndarray], fmt: str, fps: float = 8.0) -> bytes:
    """Encode frames as ``fmt`` (``gif`` or ``mp4``) bytes with imageio.

    Raises
    ------
    AnimationUnavailable
        If imageio (or, for MP4, imageio-ffmpeg) is not installed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if fmt not in available_formats():
        need = "imageio" if fmt == "gif" else "imageio and imageio-ffmpeg"
        raise AnimationUnavailable(
            f"{fmt.upper()} export needs {need}: pip install 'i4p-sim[anim]'"
        )
    import imageio.v3 as iio

    if fmt == "gif":
        return iio.imwrite("<bytes>", list(images), extension=".gif", duration=1000.0 / fps, loop=0)
    return iio.imwrite(
        "<bytes>", np.stack(images), extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264"
    )


def animation(
    scenario: Scenario, shocks: Sequence[Any], steps: int, layer: str, fmt: str = "gif"
) -> bytes:
    """The run so far (shocked twin, replicate 0) as an animation of ``layer``.

    Parameters
    ----------
    scenario, shocks, steps
        :meth:`~i4p_sim.app.twins.TwinRun.replay_recipe`.
    layer : str
        A key of :data:`~i4p_sim.app.figures.LAYERS`.
    fmt : str
        ``gif`` or ``mp4``.

    Returns
    -------
    bytes
        The encoded file.
    """
    if steps < 1:
        raise ValueError("nothing to animate yet: run at least one month")
    if fmt not in available_formats():
        encode([], fmt)  # raises AnimationUnavailable with the install hint
    frames, months, style, lpcs = replay_layer(scenario, shocks, steps, layer)
    block = 16 if fmt == "mp4" else 1
    images = frame_images(frames, months, style, lpcs, LAYERS[layer][0], block=block)
    return encode(images, fmt)
