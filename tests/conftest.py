import pytest
import torch

from seqgan.config import load_config
from seqgan.models import Discriminator, Generator

SMOKE = "deploy/configs/smoke.yaml"


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


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()
