"""Run by sphinx-gallery before each example (``reset_modules``)."""


def reset_state(gallery_conf, fname):
    """The same seed and print options before every gallery example, so the
    numbers a user gets from running an example alone equal the page's."""
    import numpy as np

    np.random.seed(0)
    np.set_printoptions(precision=4, suppress=True)
