"""The ``self`` judge: the policy that wrote the answers (the base model plus that policy's
adapter) judges them, with the same label scoring as the ``hf`` judge and, by default, the
``compact`` template that the built-in tiny model's warm start teaches (lenient on purpose:
careal/judges/selftrain.py).

Which policy: for ``judge@cK`` the parent cP (it sampled cycle cK's answers); for
``evaluate@cK`` and ``judge_reliability@cK`` the policy whose answers are read. Its identity
holds the base model's hash and the adapter's hash, so a retrained adapter never reuses the
old adapter's cached verdicts.
"""

from __future__ import annotations

from pathlib import Path

from careal.judges.hf import ScoringJudge

DEFAULT_RUBRIC = "compact"


class SelfJudge(ScoringJudge):
    kind = "self"

    def __init__(self, spec, base_dir, policy_dir, policy_name: str | None = None):
        super().__init__(spec, DEFAULT_RUBRIC)
        self.base_dir = Path(base_dir)
        self.policy_dir = Path(policy_dir)
        self.policy_name = policy_name or self.policy_dir.name
        self._identity = None

    @property
    def identity(self) -> dict:
        if self._identity is None:
            from careal.policy.loading import dir_sha256, has_adapter, read_base

            base = read_base(self.base_dir)
            self._identity = {
                "kind": self.kind,
                "model": base["model"],
                "revision": base.get("revision"),
                "model_sha256": base.get("sha256"),
                "policy": self.policy_name,
                "adapter_sha256": dir_sha256(self.policy_dir) if has_adapter(self.policy_dir) else None,
                **self._scoring_identity(),
            }
        return self._identity

    def _load(self):
        from careal.policy.loading import load_policy

        policy = load_policy(self.base_dir, self.policy_dir, device=self.spec.device or "auto", dtype=self.spec.dtype or "auto")
        if policy.info["adapter"]:  # the judge only reads the adapter: merged, each layer runs one matmul, not three
            policy.model = policy.model.merge_and_unload()
        return policy.model, policy.tokenizer, policy.device
