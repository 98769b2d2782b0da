"""Train the bundled LSTM example: human activity recognition from a simulated
wrist/waist three-axis accelerometer (in g, 20 Hz, windows of 32 samples =
1.6 s) into six activities: walking, walking upstairs, walking downstairs,
sitting, standing, lying. No data is downloaded; the generator is seeded.

The simulation: each window comes from a "subject" with its own gait rate,
step strength, sensor mounting (a small random rotation of the device axes)
and sensor offset. Moving activities are a periodic step pattern (a step
impact in the vertical axis, a sway in the lateral one at half the step rate,
a forward surge) on top of gravity, the device slightly tilted forward;
upstairs is slower with a stronger lift and more forward lean, downstairs
faster with sharper impacts. Postures are gravity in a posture-specific
direction (upright for standing, tilted back for sitting, horizontal for
lying, each with per-window spread), slow sway and small fidgets. Every
window has white noise and a small random walk, and is read at the
sensor's resolution (1/256 g, +-4 g).

    python examples/train_har.py   # writes har_lstm.h5, har_calib.npz, har_test.npz

Model: LSTM(16) -> Dense(6, softmax), 1 382 parameters: it fits the
Arduino Uno (`mcugen verify examples/har_lstm.h5 --board uno --calib
examples/har_calib.npz`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 0
RATE = 20.0  # Hz
STEPS, AXES = 32, 3
ACTIVITIES = ("walking", "upstairs", "downstairs", "sitting", "standing", "lying")
UNITS = 16


def _rotation(rng, n: int, degrees: float) -> np.ndarray:
    """(n, 3, 3) random rotations of up to about ``degrees`` per axis."""
    a = np.deg2rad(rng.uniform(-degrees, degrees, (n, 3)))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones(n), np.zeros(n)
    rx = np.stack([o, z, z, z, c[:, 0], -s[:, 0], z, s[:, 0], c[:, 0]], 1).reshape(n, 3, 3)
    ry = np.stack([c[:, 1], z, s[:, 1], z, o, z, -s[:, 1], z, c[:, 1]], 1).reshape(n, 3, 3)
    rz = np.stack([c[:, 2], -s[:, 2], z, s[:, 2], c[:, 2], z, z, z, o], 1).reshape(n, 3, 3)
    return rx @ ry @ rz


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def make_data(n: int, seed: int, subjects: int = 30):
    """(x (n, 32, 3) float32 in g, y (n,) int64 activity index); axes x
    forward, y lateral, z vertical (up) in the body frame, then rotated by
    the subject's sensor mounting."""
    rng = np.random.default_rng(seed)
    # per subject: gait rate (Hz), step strength, mounting rotation, offset
    s_rate = rng.uniform(1.6, 2.1, subjects)
    s_gain = rng.uniform(0.7, 1.3, subjects)
    s_rot = _rotation(rng, subjects, 12.0)
    s_off = rng.normal(0, 0.03, (subjects, 3))
    subj = rng.integers(0, subjects, n)
    y = rng.integers(0, len(ACTIVITIES), n)
    t = np.arange(STEPS)[None] / RATE  # (1, T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.zeros((n, STEPS, 3))

    # moving activities: rate factor, vertical impact, forward surge, forward lean (g)
    gait = {0: (1.00, 0.35, 0.15, 0.10), 1: (0.80, 0.45, 0.25, 0.30), 2: (1.15, 0.55, 0.10, -0.05)}
    for k, (rate_f, vert, surge, lean) in gait.items():
        m = y == k
        if not m.any():
            continue
        nm = int(m.sum())
        f = (s_rate[subj[m]] * rate_f * rng.uniform(0.92, 1.08, nm))[:, None]
        amp = (s_gain[subj[m]] * rng.uniform(0.85, 1.15, nm))[:, None]
        w = 2 * np.pi * f * t + phase[m]
        # a step: a sharp impact (a raised cosine to a power) then a softer lift
        impact = np.maximum(np.cos(w), 0.0) ** (6 if k == 2 else 3)
        vertical = amp * vert * (1.6 * impact + 0.4 * np.sin(w + 0.8) - 0.5)
        if k == 1:  # climbing: a second, slower push per stride
            vertical += amp * 0.15 * np.sin(w / 2 + 0.3)
        lateral = amp * 0.12 * np.sin(w / 2)
        forward = amp * surge * np.sin(w - 0.6)
        x[m, :, 0] = forward + lean + rng.normal(0, 0.03, (nm, 1))
        x[m, :, 1] = lateral
        x[m, :, 2] = 1.0 + vertical

    # postures: gravity direction in the body frame (x forward, y lateral, z up)
    posture = {3: (np.array([-0.45, 0.0, 0.89]), 12.0), 4: (np.array([0.05, 0.0, 1.0]), 6.0),
               5: (np.array([0.15, 0.0, 0.05]), 25.0)}
    for k, (g, spread) in posture.items():
        m = y == k
        if not m.any():
            continue
        nm = int(m.sum())
        if k == 5:  # lying: on the back, the front or a side
            side = rng.integers(0, 3, nm)
            g = np.stack([np.array([-1.0, 0.0, 0.1]), np.array([1.0, 0.0, 0.1]), np.array([0.05, 1.0, 0.1])])[side]
        g = np.broadcast_to(g, (nm, 3))
        g = np.einsum("nij,nj->ni", _rotation(rng, nm, spread), _unit(g))
        sway_f = rng.uniform(0.2, 0.6, (nm, 1))
        sway = 0.02 * np.sin(2 * np.pi * sway_f * t + phase[m])[..., None] * rng.normal(0, 1, (nm, 1, 3))
        fidget = np.zeros((nm, STEPS, 3))
        hit = rng.random(nm) < 0.3  # a small movement somewhere in the window
        at = rng.integers(0, STEPS, nm)
        bump = np.exp(-0.5 * ((np.arange(STEPS)[None] - at[:, None]) / 1.5) ** 2)
        fidget[hit] = bump[hit][..., None] * rng.normal(0, 0.08, (int(hit.sum()), 1, 3))
        x[m] = g[:, None, :] + sway + fidget

    x = np.einsum("nij,ntj->nti", s_rot[subj], x) + s_off[subj][:, None, :]
    x += rng.normal(0, 0.04, x.shape) + np.cumsum(rng.normal(0, 0.005, x.shape), axis=1)
    x = np.round(np.clip(x, -4, 4) * 256) / 256  # the sensor's resolution: 1/256 g, +-4 g
    return x.astype(np.float32), y.astype(np.int64)


def make_model():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((STEPS, AXES), name="accel"),
            layers.LSTM(UNITS, name="lstm"),
            layers.Dense(len(ACTIVITIES), activation="softmax", name="activity"),
        ],
        name="har_lstm",
    )


def test_split():
    """The held-out windows: other subjects than training's (another seed)."""
    return make_data(600, SEED + 1)


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train = make_data(3000, SEED)
    x_test, y_test = test_split()
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=64, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"float test accuracy: {acc:.4f}")
    model.save(HERE / "har_lstm.h5", include_optimizer=False)
    np.savez_compressed(HERE / "har_calib.npz", x=x_train[:64])
    np.savez_compressed(HERE / "har_test.npz", x=x_test, y=y_test)


if __name__ == "__main__":
    main()
