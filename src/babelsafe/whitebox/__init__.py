"""White-box attacks and analyses on local models (need the weights, not just the text).

- `ed`     Emulated Disalignment target: ed:aligned=CHAT,base=BASE,alpha=0.3 (transformers or llama.cpp)
- `steer`  activation steering target + steering vectors from contrastive prompt pairs (transformers)
- `heads`  safety-head scan by ablation (Ships) + a target with chosen heads ablated (transformers)
- `ranker` Language Ranker: similarity of each language's representations to English (both backends)

Modules import torch lazily; the default install imports this package without it.
"""
