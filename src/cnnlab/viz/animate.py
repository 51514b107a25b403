"""Animations of convolution arithmetic in the visual language of Dumoulin & Visin's guide:
blue input cells, dashed white padding (and inserted zeros), the kernel's taps shaded dark,
the output in teal, one frame per output position with the cell being filled outlined in
orange. The title states the output-size formula with the numbers plugged in.

With values, every cell shows its number, every tap its kernel weight, computed output cells
are shaded by value (darker is larger) and each frame spells out the window's computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from cnnlab.viz import canvas
from cnnlab.viz.arithmetic_plan import BEYOND, INPUT, INSERTED, Plan, number

INPUT_FILL = (125, 175, 225)
EMPTY_FILL = (255, 255, 255)  # padding and inserted zeros
TAP_FILL = (35, 70, 135)
OUTPUT_PENDING = (232, 244, 244)
OUTPUT_DONE = (95, 185, 185)
OUTPUT_LIGHT = (200, 235, 235)  # the smallest value, when shaded by value
OUTPUT_DARK = (20, 105, 105)  # the largest
CURRENT = (235, 120, 30)
BEYOND_FILL = (238, 238, 238)  # past the padded input (a ceil-mode window hangs over it)
BEYOND_TAP = (175, 185, 205)  # a tap there: part of the window, counted for nothing
GRID_LINE = (90, 90, 90)
DASH = (150, 150, 150)
FRAME_MS = 700
HOLD_MS = 2500  # the last frame stays up, so the result can be read
MIN_FRAME_MS, MAX_FRAME_MS = 20, 60_000  # GIF players round below 20 ms to 100
MARGIN = 16
STRIP_COLUMNS = 4
STRIP_FRAMES = 16  # a still strip shows at most this many frames unless told otherwise


@dataclass
class Layout:
    cell: int  # side of a cell in pixels
    input_origin: tuple[int, int]
    output_origin: tuple[int, int]

    def input_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        x, y = self.input_origin
        return (x + col * self.cell, y + row * self.cell,
                x + (col + 1) * self.cell, y + (row + 1) * self.cell)

    def output_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        x, y = self.output_origin
        return (x + col * self.cell, y + row * self.cell,
                x + (col + 1) * self.cell, y + (row + 1) * self.cell)


@dataclass
class Animation:
    plan: Plan
    frames: list[Image.Image]
    durations_ms: list[int]
    layout: Layout

    def save(self, path) -> None:
        canvas.save_animation(self.frames, self.durations_ms, path)

    def strip_frames(self, count: int | None = None) -> list[int]:
        """The frames a still strip shows: all of them, or `count` (STRIP_FRAMES by default
        when there are more) evenly spaced, the first and the last always among them."""
        total = len(self.frames)
        count = min(total, STRIP_FRAMES if count is None else count)
        if count < 1:
            raise ValueError(f"--frames must be at least 1, got {count}")
        if count == 1:
            return [total - 1]
        return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})

    def strip(self, count: int | None = None) -> Image.Image:
        """Chosen frames side by side, STRIP_COLUMNS to a row, each numbered (for slides)."""
        picks = self.strip_frames(count)
        width, height = self.frames[0].size
        columns = min(STRIP_COLUMNS, len(picks))
        rows = -(-len(picks) // columns)
        label = 22
        image, draw = canvas.new_image(columns * width, rows * (height + label))
        for index, pick in enumerate(picks):
            row, column = divmod(index, columns)
            left, top = column * width, row * (height + label)
            canvas.centred_text(draw, left + width / 2, top + label / 2,
                                f"step {pick + 1} of {len(self.frames)}", 12)
            image.paste(self.frames[pick], (left, top + label))
        return image


def shade(value: float, low: float, high: float) -> tuple[int, int, int]:
    """An output cell's fill for `value`: OUTPUT_LIGHT at `low`, OUTPUT_DARK at `high`."""
    t = 1.0 if high == low else (value - low) / (high - low)
    return tuple(round(a + (b - a) * t) for a, b in zip(OUTPUT_LIGHT, OUTPUT_DARK, strict=True))


def _text_colour(fill) -> tuple[int, int, int]:
    return canvas.WHITE if sum(fill) < 400 else canvas.TEXT


def _dashed_box(draw: ImageDraw.ImageDraw, box, dash: int = 4) -> None:
    left, top, right, bottom = box[0], box[1], box[2] - 1, box[3] - 1
    for start in range(left, right, 2 * dash):
        draw.line([(start, top), (min(start + dash, right), top)], fill=DASH)
        draw.line([(start, bottom), (min(start + dash, right), bottom)], fill=DASH)
    for start in range(top, bottom, 2 * dash):
        draw.line([(left, start), (left, min(start + dash, bottom))], fill=DASH)
        draw.line([(right, start), (right, min(start + dash, bottom))], fill=DASH)


def _cell_size(plan: Plan) -> int:
    largest = max(*plan.grid_shape, *plan.out_shape)
    return int(np.clip(440 // largest, 18, 44))


def animate(plan: Plan, frame_ms: int = FRAME_MS) -> Animation:
    if not MIN_FRAME_MS <= frame_ms <= MAX_FRAME_MS:
        raise ValueError(f"--frame-ms must be from {MIN_FRAME_MS} to {MAX_FRAME_MS}, got "
                         f"{frame_ms}")
    cell = _cell_size(plan)
    rows, cols = plan.grid_shape
    out_h, out_w = plan.out_shape
    value_size, weight_size = max(9, int(cell * 0.4)), max(7, int(cell * 0.26))
    title_lines = [(plan.title, 16, True), *[(f, 14, False) for f in plan.formulas]]
    header = MARGIN + sum(size + 8 for _, size, _ in title_lines) + 8
    gap = max(3 * cell, 60)
    grids_w = cols * cell + gap + out_w * cell
    grids_h = max(rows, out_h) * cell
    footer_lines = 2 + len(plan.notes)
    expressions = [w.expression for w in plan.windows]
    widest_text = max([canvas.text_size(text, size, bold)[0] for text, size, bold in title_lines]
                      + [canvas.text_size(e, 13)[0] for e in expressions]
                      + [canvas.text_size(note, 12)[0] for note in plan.notes]
                      + [canvas.text_size(plan.input_label, 12)[0] + out_w * cell + gap])
    width = max(grids_w, widest_text) + 2 * MARGIN
    height = header + grids_h + 26 + footer_lines * 20 + MARGIN
    left = (width - grids_w) // 2
    input_origin = (left, header + (grids_h - rows * cell) // 2)
    output_origin = (left + cols * cell + gap, header + (grids_h - out_h * cell) // 2)
    layout = Layout(cell, input_origin, output_origin)

    background, draw = canvas.new_image(width, height)
    y = MARGIN
    for text, size, bold in title_lines:
        canvas.centred_text(draw, width / 2, y + size / 2, text, size, bold=bold)
        y += size + 8
    label_y = header + grids_h + 14
    canvas.centred_text(draw, input_origin[0] + cols * cell / 2, label_y, plan.input_label, 12)
    canvas.centred_text(draw, output_origin[0] + out_w * cell / 2, label_y,
                        f"output {out_h}x{out_w}", 12)
    for index, note in enumerate(plan.notes):
        canvas.centred_text(draw, width / 2, label_y + 48 + 20 * index, note, 12)

    low = high = 0.0
    if plan.output is not None:
        low, high = float(plan.output.min()), float(plan.output.max())

    frames, durations = [], []
    for index, window in enumerate(plan.windows):
        frame = background.copy()
        draw = ImageDraw.Draw(frame)
        taps = {(t.row, t.col): t for t in window.taps}
        for row in range(rows):
            for col in range(cols):
                box = layout.input_box(row, col)
                tap = taps.get((row, col))
                kind = plan.kinds[row, col]
                if kind == BEYOND:
                    fill = BEYOND_TAP if tap else BEYOND_FILL
                else:
                    fill = TAP_FILL if tap else INPUT_FILL if kind == INPUT else EMPTY_FILL
                draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=fill)
                if kind == INPUT:
                    draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=GRID_LINE)
                else:
                    _dashed_box(draw, box)
                value = None if plan.values is None else plan.values[row, col]
                if value is not None and not np.isnan(value) and (tap or kind in (INPUT,
                                                                            INSERTED)):
                    canvas.centred_text(draw, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                                        number(value), value_size, fill=_text_colour(fill))
                if tap and tap.weight is not None:
                    draw.text((box[2] - 3, box[3] - 2), number(tap.weight), anchor="rd",
                              font=canvas.font(weight_size), fill=(255, 220, 120))
        for position, other in enumerate(plan.windows):
            box = layout.output_box(other.out_row, other.out_col)
            if position > index:
                fill = OUTPUT_PENDING
            elif other.value is not None:
                fill = shade(other.value, low, high)
            else:
                fill = OUTPUT_DONE
            draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=fill,
                           outline=GRID_LINE)
            if position <= index and other.value is not None:
                canvas.centred_text(draw, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                                    number(other.value), value_size, fill=_text_colour(fill))
        box = layout.output_box(window.out_row, window.out_col)
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=CURRENT, width=3)
        if window.winner is not None:  # the cell max pooling takes, outlined as its output
            box = layout.input_box(*window.winner)
            draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=CURRENT, width=3)
        if window.expression:
            canvas.centred_text(draw, width / 2, label_y + 26, window.expression, 13)
        frames.append(frame)
        durations.append(frame_ms)
    durations[-1] = max(frame_ms, HOLD_MS)
    return Animation(plan, frames, durations, layout)
