"""Regenerates allan_phase.txt and allan_expected.txt (see README.md).

Run: python3 gen_golden.py   (needs numpy and allantools)
"""
import allantools
import numpy as np

N = 1500
TAU0_S = 0.5
rng = np.random.default_rng(20240611)
# frequency = white FM (1e-9) + random-walk FM (steps of 3e-11); phase integrates it
y = 1e-9 * rng.standard_normal(N) + np.cumsum(3e-11 * rng.standard_normal(N))
x = 2e-6 + np.cumsum(y) * TAU0_S

ms = [1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 400, 500]
taus = np.array(ms, dtype=float) * TAU0_S
rate = 1.0 / TAU0_S

cols = {}
for name in ["oadev", "adev", "mdev", "tdev", "mtie"]:
    t, d, _, _ = getattr(allantools, name)(x, rate=rate, data_type="phase", taus=taus)
    # allantools drops a tau whose estimate rests on a single term (adev,
    # mdev, tdev at m = 500 here); it is written as nan
    got = dict(zip(np.round(t / TAU0_S).astype(int), d))
    assert len(got) >= len(ms) - 1, (name, t)
    cols[name] = [got.get(m, float("nan")) for m in ms]

with open("allan_phase.txt", "w") as f:
    f.write("# phase x[i] in seconds, tau0 = %r s, N = %d (see README.md)\n" % (TAU0_S, N))
    for v in x:
        f.write("%.17g\n" % v)

with open("allan_expected.txt", "w") as f:
    f.write("# allantools %s, phase data allan_phase.txt, tau0 = %r s\n" % (allantools.__version__, TAU0_S))
    f.write("# m tau_s oadev adev mdev tdev_s mtie_s\n")
    for i, m in enumerate(ms):
        f.write("%d %.17g %.17g %.17g %.17g %.17g %.17g\n" % (
            m, taus[i], cols["oadev"][i], cols["adev"][i], cols["mdev"][i],
            cols["tdev"][i], cols["mtie"][i]))
