"""The visible "AI生成 · AI-generated" label burned into every frame.

No CJK font ships with Python or this machine's base image, so the two Han
characters are drawn from our own stroke definitions (anti-aliased polylines);
the Latin text uses OpenCV's Hershey font. The label is rendered once per clip
and alpha-blended into a corner the scene's face never enters.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Strokes of 生 and 成 in a unit em box (x right, y down), each a polyline.
_GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "生": [
        [(0.30, 0.06), (0.14, 0.42)],
        [(0.22, 0.30), (0.86, 0.30)],
        [(0.52, 0.04), (0.52, 0.90)],
        [(0.18, 0.60), (0.82, 0.60)],
        [(0.05, 0.90), (0.95, 0.90)],
    ],
    "成": [
        [(0.14, 0.26), (0.94, 0.26)],
        [(0.20, 0.26), (0.20, 0.62), (0.08, 0.94)],
        [(0.20, 0.52), (0.44, 0.52), (0.42, 0.82), (0.33, 0.76)],
        [(0.56, 0.04), (0.60, 0.44), (0.74, 0.72), (0.93, 0.94), (0.96, 0.76)],
        [(0.86, 0.46), (0.48, 0.90)],
        [(0.74, 0.06), (0.82, 0.15)],
    ],
}

LABEL_TEXT = "AI生成 · AI-generated"
_FONT = cv2.FONT_HERSHEY_DUPLEX


@dataclass(frozen=True)
class Label:
    """A pre-rendered label: premultiplied RGB, alpha, and where it goes."""

    rgb: np.ndarray  # float32 (h, w, 3), already multiplied by alpha
    alpha: np.ndarray  # float32 (h, w, 1)
    x: int
    y: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.rgb.shape[1], self.y + self.rgb.shape[0]


def _draw_glyph(canvas: np.ndarray, char: str, x: int, y: int, em: int, thickness: int) -> None:
    for stroke in _GLYPHS[char]:
        pts = np.array([(x + px * em, y + py * em) for px, py in stroke], dtype=np.float64)
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 255, thickness,
                      lineType=cv2.LINE_AA, shift=4)


def render_label(text_height: int) -> tuple[np.ndarray, np.ndarray]:
    """The label's text mask (uint8, h x w) and box alpha, for a cap height of about `text_height`."""
    ss = 3  # supersampling factor
    em = text_height * ss
    scale = cv2.getFontScaleFromHeight(_FONT, int(em * 0.78), 1)
    thick = max(1, round(em / 11))
    pad = em // 3
    ai_w = cv2.getTextSize("AI", _FONT, scale, thick)[0][0]
    gen_w = cv2.getTextSize("AI-generated", _FONT, scale, thick)[0][0]
    gap = em // 4
    width = pad + ai_w + gap // 2 + 2 * em + gap + em // 3 + gap + gen_w + pad
    height = em + 2 * pad
    canvas = np.zeros((height, width), np.uint8)
    baseline = pad + int(em * 0.9)
    x = pad
    cv2.putText(canvas, "AI", (x, baseline), _FONT, scale, 255, thick, cv2.LINE_AA)
    x += ai_w + gap // 2
    for char in "生成":
        _draw_glyph(canvas, char, x, pad, em, thick)
        x += em
    x += gap
    cv2.circle(canvas, (x + em // 6, pad + em // 2), max(2, thick), 255, -1, cv2.LINE_AA)
    x += em // 3 + gap
    cv2.putText(canvas, "AI-generated", (x, baseline), _FONT, scale, 255, thick, cv2.LINE_AA)
    small = (width // ss, height // ss)
    text = cv2.resize(canvas, small, interpolation=cv2.INTER_AREA)
    box = np.zeros((height, width), np.uint8)
    cv2.rectangle(box, (0, 0), (width - 1, height - 1), 255, -1)
    return text, cv2.resize(box, small, interpolation=cv2.INTER_AREA)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def make_label(
    frame_size: tuple[int, int], face_boxes: list[tuple[int, int, int, int]] | None = None
) -> Label:
    """Render the label for a clip and put it in the corner that overlaps the faces least."""
    width, height = frame_size
    text_height = max(14, round(min(width, height) * 0.045))
    text, box = render_label(text_height)
    while text.shape[1] > width * 0.9 and text_height > 10:
        text_height -= 2
        text, box = render_label(text_height)
    h, w = text.shape
    margin = max(8, round(min(width, height) * 0.03))
    corners = [
        (margin, height - h - margin),  # bottom-left
        (width - w - margin, height - h - margin),  # bottom-right
        (margin, margin),  # top-left
        (width - w - margin, margin),  # top-right
    ]
    faces = face_boxes or []

    def cost(corner: tuple[int, int]) -> int:
        rect = (corner[0], corner[1], corner[0] + w, corner[1] + h)
        return sum(_overlap(rect, f) for f in faces)

    x, y = min(corners, key=cost)  # min() keeps the first of equals: bottom-left preferred
    alpha_box = box.astype(np.float32) / 255.0 * 0.55
    alpha_text = text.astype(np.float32) / 255.0
    alpha = alpha_box + alpha_text * (1.0 - alpha_box)
    # Premultiplied colour: white text over a black box.
    rgb = np.repeat((alpha_text * 255.0)[..., None], 3, axis=2)
    return Label(rgb=rgb.astype(np.float32), alpha=alpha[..., None].astype(np.float32), x=max(0, x), y=max(0, y))


def burn_label(frame: np.ndarray, label: Label) -> np.ndarray:
    """Blend the label into `frame` (H, W, 3) uint8, in place; returns the frame."""
    x0, y0, x1, y1 = label.box
    region = frame[y0:y1, x0:x1].astype(np.float32)
    out = label.rgb + region * (1.0 - label.alpha)
    frame[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return frame
