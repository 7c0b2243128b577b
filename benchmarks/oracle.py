"""The ceiling of the embedded default: can the tiny policy learn harmful intent at all?

Takes the preference loop out of the picture: a LoRA adapter (r 16, all linear layers, like the
cycles') is trained with plain SFT on the *ideal* answer style for every train prompt (accept
for harm level 0, refuse otherwise; harmless prompts repeated three times to balance), then the
first token it would write on each eval prompt is read: greedy style and the probability of a
non-accept opening, per method, with the AUC between harmful and harmless prompts.
docs/balance.md quotes its figures. Run from the repo root after the bootstrap stage:

    python benchmarks/oracle.py . EPOCHS LR [TARGET_MODULES] [BASE_PROMPTS_PER_CELL]

(e.g. `python benchmarks/oracle.py . 2 5e-4`; a last argument above 0 draws the prompts from a
builtin set with that many base prompts per cell instead of data/prepared/).
"""
import json, sys, random, tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from careal.policy.loading import load_policy
from careal.policy.generation import render_prompt
from careal.data.styles import style_answer
from careal.policy.trainer_args import common_trainer_args
run, epochs, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
target = sys.argv[4] if len(sys.argv) > 4 else "all-linear"
p = load_policy(f"{run}/models/base", None, device="cpu")
tok = p.tokenizer
per_cell = int(sys.argv[5]) if len(sys.argv) > 5 else 0
if per_cell:
    from careal.params import parse_params
    from careal.data.split import prepare
    pp = parse_params({"data": {"builtin_base_prompts_per_cell": per_cell, "train_size": 0, "eval_size": 384}, "evaluate": {"policies": ["c0"]}})
    a, b, _ = prepare(pp.data, 0)
    tr = [r.to_dict() for r in a]; ev = [r.to_dict() for r in b]
else:
    tr = [json.loads(l) for l in open(f"{run}/data/prepared/train.jsonl")]
    ev = [json.loads(l) for l in open(f"{run}/data/prepared/eval.jsonl")]
print("train", len(tr), "eval", len(ev))
rng = random.Random(0)
tr = tr + [r for r in tr if r["harmful_level"] == 0] * 2  # balance: harmless x3
rows = [{"prompt": [{"role": "user", "content": r["prompt"]}], "completion": [{"role": "assistant", "content": style_answer("accept" if r["harmful_level"] == 0 else "refuse", rng)}]} for r in tr]
from datasets import Dataset
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer
with tempfile.TemporaryDirectory() as d:
    args = SFTConfig(num_train_epochs=epochs, per_device_train_batch_size=16, learning_rate=lr, max_length=256, **common_trainer_args(d, 0, "cpu", torch.float32))
    t = SFTTrainer(model=p.model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, peft_config=LoraConfig(r=16, lora_alpha=32, target_modules=target, task_type="CAUSAL_LM"))
    t.train()
m = t.model.eval()
ids = {s: tok(w, add_special_tokens=False)["input_ids"][0] for s, w in (("accept", "Sure"), ("caution", "Please"), ("refuse", "I"))}
res = {}
with torch.inference_mode():
    for k in range(0, len(ev), 64):
        b = ev[k:k+64]
        enc = tok([render_prompt(tok, r["prompt"]) for r in b], return_tensors="pt", padding=True, add_special_tokens=False)
        lg = m(**enc).logits[:, -1]
        for r, row in zip(b, lg):
            best = max(ids, key=lambda s: row[ids[s]])
            pr = row.softmax(-1)
            res.setdefault(r["method"], []).append((r["harmful_level"], best, 1 - float(pr[ids["accept"]])))
tot = []
def auc(pos, neg): return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
for meth, v in sorted(res.items()) + [("ALL", [x for vv in res.values() for x in vv])]:
    h = [b != "accept" for l, b, q in v if l > 0]; e = [b != "accept" for l, b, q in v if l == 0]
    a = auc([q for l, b, q in v if l > 0], [q for l, b, q in v if l == 0])
    print(f"{meth:10s} harm {sum(h)/len(h):.2f} err {sum(e)/len(e):.2f} disc {sum(h)/len(h)-sum(e)/len(e):+.2f} AUC {a:.3f}")
