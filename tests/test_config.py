import pytest

from seqgan.config import ConfigError, load_config


@pytest.mark.unit
@pytest.mark.parametrize("preset", ["smoke", "paper", "cpu"])
def test_presets_load(preset):
    config = load_config(f"deploy/configs/{preset}.yaml")
    assert config.model.seq_len >= max(config.discriminator.filter_sizes)


@pytest.mark.unit
def test_paper_preset_has_the_papers_numbers():
    c = load_config("deploy/configs/paper.yaml")
    assert (c.model.vocab_size, c.model.seq_len, c.data.batch_size) == (5000, 20, 64)
    assert (c.generator.embed_dim, c.generator.hidden_dim, c.generator.lr, c.generator.grad_clip) == (32, 32, 0.01, 5.0)
    assert c.discriminator.filter_sizes == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    assert c.discriminator.num_filters == [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    assert (c.discriminator.dropout, c.discriminator.l2_reg, c.discriminator.lr) == (0.25, 0.2, 1e-4)
    assert (c.train.mle_epochs, c.train.disc_pretrain_rounds, c.train.disc_epochs) == (120, 50, 3)
    assert (c.train.adv_iterations, c.train.d_steps, c.rollout.num_rollouts, c.rollout.update_rate) == (200, 5, 16, 0.0)


@pytest.mark.unit
def test_overrides_are_typed():
    c = load_config(None, ["rollout.update_rate=0.8", "data.oracle=null", "discriminator.filter_sizes=[1,2]",
                           "discriminator.num_filters=[3,4]", "model.vocab_size=7"])
    assert c.rollout.update_rate == 0.8 and c.data.oracle is None and c.model.vocab_size == 7
    assert c.discriminator.filter_sizes == [1, 2]


@pytest.mark.unit
@pytest.mark.parametrize("override, words", [
    ("model.vocab_sise=3", ["model.vocab_sise"]),
    ("nosection.key=1", ["nosection"]),
    ("model.vocab_size=abc", ["model.vocab_size", "int", "abc"]),
    ("model.vocab_size=true", ["model.vocab_size", "int"]),
    ("generator.lr=fast", ["generator.lr", "float"]),
    ("discriminator.filter_sizes=3", ["discriminator.filter_sizes", "list"]),
    ("rollout.update_rate=1.0", ["rollout.update_rate", "[0, 1)"]),
    ("rollout.num_rollouts=0", ["rollout.num_rollouts", "> 0"]),
    ("discriminator.filter_sizes=[1,30]", ["discriminator"]),
    ("model.seq_len=5", ["filter_sizes", "model.seq_len"]),
    ("learner.device=tpu", ["learner.device", "tpu"]),
    ("novalue", ["section.key=value"]),
    ("model.vocab_size=[", ["override 'model.vocab_size=['", "not valid YAML"]),
    ("generator.grad_clip=0", ["generator.grad_clip", "> 0"]),
    ("generator.init_std=-1", ["generator.init_std", "> 0", "-1"]),
    ("train.seed=-1", ["train.seed", ">= 0", "-1"]),
    ("data.oracle_seed=-5", ["data.oracle_seed", ">= 0"]),
    ("ray.num_cpus=-3", ["ray.num_cpus", "> 0"]),
    ("rollout.unit_samples=0", ["rollout.unit_samples", "> 0", "0"]),
    ("rollout.unit_prefixes=-2", ["rollout.unit_prefixes", "> 0", "-2"]),
    ("rollout.chunk_tokens=many", ["rollout.chunk_tokens", "a positive int or 'auto'", "many"]),
    ("rollout.unit_rollouts=1.5", ["rollout.unit_rollouts", "a positive int or 'auto'", "1.5"]),
    ("rollout.memory_budget=0", ["rollout.memory_budget", "> 0"]),
    ("rollout.memory_budget=auto", ["rollout.memory_budget", "int"]),
    # a budget below one sample's 16 rollouts of one prefix (paper sizes: about 2 MB at T=20)
    ("rollout.memory_budget=100000", ["rollout.memory_budget (100000 bytes)", "below one sample's rollouts",
                                      "16 rollouts (rollout.unit_rollouts (auto))", "at least"]),
    # auto rollouts per unit (16) with an explicit chunk that cannot hold them: 16 x 20 tokens
    ("rollout.chunk_tokens=100", ["rollout.chunk_tokens (100)", "rollout.unit_rollouts (auto) 16",
                                  "model.seq_len 20 = 320"]),
])
def test_bad_config_names_the_key(override, words):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    for word in words:
        assert word in str(error.value)


@pytest.mark.unit
def test_an_explicit_chunk_too_large_for_the_budget_is_named():
    """Whole-batch units (64 x 19 x 16) with a chunk holding all 389,120 of their tokens need about
    60 MB: under a 30 MB budget that leaves no room for a D call."""
    with pytest.raises(ConfigError) as error:
        load_config(None, ["rollout.unit_samples=64", "rollout.unit_prefixes=19", "rollout.chunk_tokens=1048576",
                           "rollout.memory_budget=30000000"])
    for words in ("rollout.chunk_tokens (1048576)", "no room for a D call", "rollout.memory_budget (30000000 bytes)",
                  "at most 145280 tokens fit"):
        assert words in str(error.value)
    load_config(None, ["rollout.unit_samples=64", "rollout.unit_prefixes=19", "rollout.chunk_tokens=1048576"])


@pytest.mark.unit
@pytest.mark.parametrize("overrides, words", [
    (["learner.device=cpu"], ["learner.cuda_graphs", "learner.device is 'cpu'"]),
    (["rollout.num_workers=2", "learner.num_gpus=0"], ["learner.cuda_graphs", "learner.num_gpus", "num_workers is 2"]),
])
def test_cuda_graphs_without_a_gpu_learner_is_refused(overrides, words):
    with pytest.raises(ConfigError) as error:
        load_config(None, ["learner.cuda_graphs=true", *overrides])
    assert all(word in str(error.value) for word in words), str(error.value)
    # A GPU learner actor is fine.
    load_config(None, ["learner.cuda_graphs=true", "rollout.num_workers=2", "learner.num_gpus=1"])


@pytest.mark.unit
def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: 3\n")
    with pytest.raises(ConfigError, match="model: expected a mapping"):
        load_config(bad)


@pytest.mark.unit
def test_floats_written_without_a_dot_are_floats():
    assert load_config(None, ["generator.lr=1e-3"]).generator.lr == 1e-3  # YAML 1.1 reads 1e-3 as a string


@pytest.mark.unit
@pytest.mark.parametrize("text, words", [
    ("model: {vocab_size: 60\n", ["bad.yaml", "not valid YAML"]),
    ("- a\n- b\n", ["bad.yaml", "expected a mapping of sections", "list"]),
])
def test_unreadable_config_files_are_named(tmp_path, text, words):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "bad.yaml", ["model.seq_len=5"])
    assert all(word in str(error.value) for word in words), str(error.value)
    (tmp_path / "bad.yaml").write_bytes(b"model: {vocab_size: \xff}\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not UTF-8"):
        load_config(tmp_path / "bad.yaml")
