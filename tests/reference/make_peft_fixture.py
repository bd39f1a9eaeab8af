#!/usr/bin/env python3
"""Writes a LoRA adapter folder exactly as Hugging Face PEFT saves one for a Llama-family causal
LM (save_pretrained of a PeftModel, safetensors format), with random non-zero A and B, for
oap's import tests. Written without the peft library (not in Debian): the file names, tensor
names, shapes, dtype and the adapter_config.json keys follow what PEFT 0.13 writes.

Usage: make_peft_fixture.py MODEL_DIR OUT_DIR --targets q_proj,v_proj [--rank 8] [--alpha 16]
                            [--rslora] [--seed 0]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import write_safetensors  # noqa: E402

ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj"}


def shapes(cfg, module):
    """(in, out) features of a projection, as the HF Llama modules define them."""
    h = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or h // nh
    i = cfg["intermediate_size"]
    return {"q_proj": (h, nh * hd), "k_proj": (h, nkv * hd), "v_proj": (h, nkv * hd),
            "o_proj": (nh * hd, h), "gate_proj": (h, i), "up_proj": (h, i),
            "down_proj": (i, h)}[module]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--targets", required=True)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--rslora", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.model_dir, "config.json")))
    targets = args.targets.split(",")
    g = torch.Generator().manual_seed(args.seed)
    tensors = {}
    for layer in range(cfg["num_hidden_layers"]):
        for t in targets:
            part = "self_attn" if t in ATTENTION else "mlp"
            name = f"base_model.model.model.layers.{layer}.{part}.{t}"
            fin, fout = shapes(cfg, t)
            # A as PEFT initialises it; B non-zero, as after training.
            bound = 1 / fin ** 0.5
            tensors[name + ".lora_A.weight"] = (torch.rand(args.rank, fin, generator=g) * 2 - 1) * bound
            tensors[name + ".lora_B.weight"] = torch.randn(fout, args.rank, generator=g) * 0.05
    os.makedirs(args.out_dir, exist_ok=True)
    write_safetensors(os.path.join(args.out_dir, "adapter_model.safetensors"), tensors)
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": args.model_dir,
        "bias": "none", "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": args.alpha, "lora_bias": False, "lora_dropout": 0.05,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": args.rank, "rank_pattern": {}, "revision": None,
        # PEFT keeps target_modules as a set: its saved order is arbitrary.
        "target_modules": sorted(targets, reverse=True), "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": args.rslora,
    }
    with open(os.path.join(args.out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
