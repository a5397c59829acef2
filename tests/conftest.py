import os
from pathlib import Path

# Local Ray clusters of the tests bind to 127.0.0.1 only; Ray reads this when first imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

from seqgan.config_files import load_config
from seqgan.models import Discriminator, Generator

SMOKE = "deploy/configs/smoke.yaml"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def in_the_project_root(monkeypatch):
    """Tests name presets by their path in the project (deploy/configs/...), wherever pytest runs."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def one_torch_thread():
    """Tiny models: a second torch thread only waits on the first (10x slower on a busy machine).
    Modules of such tests use it for every test: pytestmark = pytest.mark.usefixtures(...)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def smoke_config():
    return load_config(SMOKE, ["rollout.num_workers=0"])


@pytest.fixture
def tiny_models():
    """A float64 generator and discriminator: small enough to enumerate, exact enough that
    last-bit differences never flip a sampled token."""
    torch.manual_seed(0)
    generator = Generator(7, 5, 6, 6).init_normal_(0.7).double().eval()
    disc = Discriminator(7, 4, [1, 2, 3], [3, 4, 3], 0.25).init_paper_().double().eval()
    return generator, disc
