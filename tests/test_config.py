import typing

import pytest

from seqgan.config import MAX_SEQ_LEN, MAX_SEQUENCES, MAX_TOKENS, MAX_VOCAB_SIZE, Config, ConfigError, ConfigFileError
from seqgan.config_files import load_config


@pytest.mark.unit
@pytest.mark.parametrize("preset", ["smoke", "paper", "cpu", "paper-oracle"])
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
    ("generator.init_std=1e30", ["generator.init_std", "in (0, 1]", "1e+30"]),
    ("generator.lr=1e30", ["generator.lr", "in (0, 1]", "1e+30"]),
    ("discriminator.lr=2", ["discriminator.lr", "in (0, 1]", "2.0"]),
    ("discriminator.l2_reg=1e9", ["discriminator.l2_reg", "in [0, 100]"]),
    ("learner.torch_threads=0", ["learner.torch_threads", "> 0", "0"]),
    ("learner.torch_threads=many", ["learner.torch_threads", "a positive int or 'auto'", "many"]),
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


def keys_of_type(kind) -> list[str]:
    """Every config key whose type is `kind` (from the dataclasses, so new keys are covered)."""
    keys = []
    for section, section_type in typing.get_type_hints(Config).items():
        for name, hint in typing.get_type_hints(section_type).items():
            if hint is kind:
                keys.append(f"{section}.{name}")
    return keys


@pytest.mark.unit
@pytest.mark.parametrize("key", keys_of_type(float))
@pytest.mark.parametrize("text, shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"), ("1e400", "inf")])
def test_non_finite_floats_are_refused(key, text, shown):
    with pytest.raises(ConfigError) as error:
        load_config(None, [f"{key}={text}"])
    assert f"{key} must be a finite number, got {shown}" in str(error.value)


@pytest.mark.unit
@pytest.mark.parametrize("key, kind", [(k, "int") for k in keys_of_type(int)] + [(k, "float") for k in keys_of_type(float)])
@pytest.mark.parametrize("value", ["true", "false"])
def test_bools_are_not_numbers(key, kind, value):
    with pytest.raises(ConfigError, match=f"{key}: expected {kind}, got {value.title()}"):
        load_config(None, [f"{key}={value}"])


@pytest.mark.unit
@pytest.mark.parametrize("overrides, words", [
    (["discriminator.dropout=1"], ["discriminator.dropout must be in [0, 1), got 1.0"]),
    (["model.vocab_size=1"], ["model.vocab_size must be >= 2", "got 1"]),
    (["generator.lr=1" + "0" * 400], ["generator.lr", "too large for a float"]),
    ([f"model.vocab_size={MAX_VOCAB_SIZE + 1}"], ["model.vocab_size must be at most 16777216", str(MAX_VOCAB_SIZE + 1)]),
    (["model.vocab_size=1000000000000000"], ["model.vocab_size must be at most 16777216"]),
    ([f"model.seq_len={MAX_SEQ_LEN + 1}"], ["model.seq_len must be at most 65536"]),
    (["data.num_train=1000000000000"], ["data.num_train must be at most 100000000", "1000000000000"]),
    (["train.eval_samples=100000001"], ["train.eval_samples must be at most 100000000"]),
    (["rollout.num_rollouts=100000001"], ["rollout.num_rollouts must be at most 100000000"]),
    (["model.seq_len=60000", "data.num_train=100000"], ["data.num_train x model.seq_len must be at most 2147483648"]),
    ([f"rollout.chunk_tokens={MAX_TOKENS + 1}"], ["rollout.chunk_tokens must be at most 2147483648"]),
    (["generator.embed_dim=1000000"], ["the generator's weights", "must be at most 2147483648"]),
    (["discriminator.num_filters=[100,200,200,200,200,100,100,100,100,100,160,40000]"],
     ["the discriminator's weights", "must be at most 2147483648"]),
])
def test_values_that_cannot_work_are_refused_up_front(overrides, words):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert all(word in str(error.value) for word in words), str(error.value)


@pytest.mark.unit
def test_the_largest_values_allowed_still_load():
    c = load_config(None, [f"model.vocab_size={MAX_VOCAB_SIZE}", "generator.embed_dim=8", "generator.hidden_dim=8",
                           "discriminator.embed_dim=8", f"data.num_train={MAX_SEQUENCES}", "model.seq_len=20",
                           "train.eval_samples=1000"])
    assert c.model.vocab_size == MAX_VOCAB_SIZE and c.data.num_train == MAX_SEQUENCES


@pytest.mark.unit
def test_content_errors_of_a_config_file_name_the_file(tmp_path):
    (tmp_path / "c.yaml").write_text("generator: {lr: .inf}\n")
    with pytest.raises(ConfigFileError, match="c.yaml.*generator.lr must be a finite number"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="c.yaml.* with --set overrides: generator.lr must be a finite") as error:
        load_config(tmp_path / "c.yaml", ["model.seq_len=20"])
    assert not isinstance(error.value, ConfigFileError)  # an override may be at fault
