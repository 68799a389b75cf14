#!/usr/bin/env python3
"""How unevenly can a flat print respond to the phone screen's light? (issue #9, relief test)

A flat print has one normal, so a distant room light falls on it evenly; what varies across it is
the screen's light: inverse-square distance and the cosines of emission and incidence. The ratio
k(x) = E_screen(x) / E_room(x) that the relief cells measure therefore varies across a print only
as E_screen does. This integrates E_screen over a phone screen (6.5 x 14 cm Lambertian emitter, the
front camera 6.5 cm above its centre) for prints held 20-50 cm from the camera, turned up to 30 deg
about either axis, with the face spanning up to +/-12 deg of the view (the quality gate's largest
face: 0.475 of the frame width on an 80 deg wide front camera), and prints the largest natural-log
ratio between the relief cells that each witness of core/src/reflection/relief.rs compares.

Usage: python3 scripts/physics/flat_print.py [--rust]   (numpy only)
--rust prints the bounds in the shape of the table `FLAT_BOUNDS` of core/src/reflection/relief.rs,
with a fourth column (one outer cheek against the other). The committed table was generated when
this script placed its own, closer-set cells; at the decoder's cells, read here, every bound is
17-85 % wider, and adopting them waits (docs/light-decision.md, "Known gap").
"""
import pathlib
import re
import sys
import numpy as np

SCREEN_W, SCREEN_H = 6.5, 14.0  # cm
CAMERA = np.array([0.0, 6.5, 0.0])
FACE_HALF_WIDTH = 7.0


def landmark_cells():
    """The relief cells' centres as the decoder places them on a frontal face
    (`RELIEF_LANDMARK_CELLS` in core/src/analysis.rs: x, y in units of the cheek-to-cheek width W
    from the nose tip, y toward the chin), in cm from the nose tip on a face 14 cm wide, y up."""
    source = (pathlib.Path(__file__).resolve().parents[2] / "core/src/analysis.rs").read_text()
    table = re.search(r"pub const RELIEF_LANDMARK_CELLS: \[\[f32; 4\]; 7\] = \[(.*?)\];", source, re.S)
    rows = re.findall(r"\[(-?[0-9.]+), (-?[0-9.]+), [0-9.]+, [0-9.]+\]", table.group(1))
    names = ("nose", "inner_left", "inner_right", "outer_left", "outer_right", "forehead", "chin")
    width = 2 * FACE_HALF_WIDTH
    return {n: (float(x) * width, -float(y) * width) for n, (x, y) in zip(names, rows, strict=True)}


# Relief cells on a face 14 cm wide (cheek to cheek), in cm from the nose tip, x right, y up.
CELLS = landmark_cells()

sx, sy = np.meshgrid(np.linspace(-SCREEN_W / 2, SCREEN_W / 2, 13), np.linspace(-SCREEN_H / 2, SCREEN_H / 2, 29))
SCREEN = np.stack([sx.ravel(), sy.ravel(), np.zeros(sx.size)], 1)


def screen_light(p, n):
    v = p[None, :] - SCREEN
    d = np.linalg.norm(v, axis=1)
    emission = np.clip(v[:, 2] / d, 0, None)
    incidence = np.clip(-(v @ n) / d, 0, None)
    return float(np.sum(emission * incidence / d**2))


def rotation(yaw, pitch):
    cy, sy_ = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    return np.array([[cy, 0, sy_], [0, 1, 0], [-sy_, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])


def witnesses(e):
    front = 0.5 * (e["inner_left"] + e["inner_right"])
    return {
        "outer cheeks vs front": np.log(0.5 * (e["outer_left"] + e["outer_right"]) / front),
        "left vs right outer cheek": np.log(e["outer_left"] / e["outer_right"]),
        "forehead+chin vs nose": np.log(0.5 * (e["forehead"] + e["chin"]) / e["nose"]),
        "forehead+chin vs front": np.log(0.5 * (e["forehead"] + e["chin"]) / front),
        "chin vs forehead": np.log(e["chin"] / e["forehead"]),
        "one outer cheek vs front": max(abs(np.log(e["outer_left"] / front)), abs(np.log(e["outer_right"] / front))),
    }


def bounds(half_angle):
    worst = {}
    for distance in (20, 25, 30, 35, 40, 50):
        scale = distance * np.tan(np.radians(half_angle)) / FACE_HALF_WIDTH
        for yaw in np.radians(np.arange(-30, 31, 5)):
            for pitch in np.radians(np.arange(-30, 31, 5)):
                r = rotation(yaw, pitch)
                normal = r @ np.array([0.0, 0.0, -1.0])
                centre = CAMERA + np.array([0.0, 0.0, distance])
                e = {k: screen_light(centre + r @ np.array([x * scale, y * scale, 0.0]), normal)
                     for k, (x, y) in CELLS.items()}
                for name, v in witnesses(e).items():
                    if abs(v) > worst.get(name, (0,))[0]:
                        worst[name] = (abs(v), distance, round(np.degrees(yaw)), round(np.degrees(pitch)))
    return worst


def main():
    angles = (8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28)
    if "--rust" in sys.argv:
        for a in angles:
            w = bounds(a)
            vertical = max(w["forehead+chin vs nose"][0], w["forehead+chin vs front"][0])
            print(f"    ({np.tan(np.radians(a)):.4f}, [{w['outer cheeks vs front'][0]:.3f}, {vertical:.3f}, "
                  f"{w['chin vs forehead'][0]:.3f}, {w['left vs right outer cheek'][0]:.3f}]), // {a}°")
        return
    for half_angle in angles:
        worst = bounds(half_angle)
        print(f"face within +/-{half_angle} deg of the view:")
        for name, (v, d, yaw, pitch) in worst.items():
            print(f"  {name:28s} |ln ratio| <= {v:.3f}  (x{np.exp(v):.2f}; worst at {d} cm, yaw {yaw}, pitch {pitch})")


if __name__ == "__main__":
    main()
