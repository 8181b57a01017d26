"""The `transformers-vision` target with a tiny random LLaVA (CLIP vision tower + Llama) built and saved
inside the test (no downloads): images arrive as pixels, text-only messages still work."""
from __future__ import annotations

import asyncio
import base64
import io

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
transformers = pytest.importorskip("transformers", reason="transformers not installed")
pytest.importorskip("PIL")
from PIL import Image as PILImage  # noqa: E402

from babelsafe.targets.base import ProviderError  # noqa: E402
from babelsafe.targets.hf_vision import TransformersVisionTarget  # noqa: E402
from babelsafe.types import GenParams  # noqa: E402

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
WORDS = "what is in this picture ? a knife door red green blue the it".split()
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<image>"]


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = tmp_path_factory.mktemp("tiny-llava")
    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens(SPECIAL)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>",
                                               eos_token="</s>", pad_token="<pad>")
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    torch.manual_seed(0)
    text = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                    max_position_embeddings=128, bos_token_id=2, eos_token_id=3, pad_token_id=1)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=16)
    cfg = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=vocab["<image>"],
                                   vision_feature_layer=-1, vision_feature_select_strategy="default")
    model = transformers.LlavaForConditionalGeneration(cfg)
    model.save_pretrained(path)
    ip = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = transformers.LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=16,
                                       vision_feature_select_strategy="default", chat_template=TEMPLATE,
                                       image_token="<image>", num_additional_image_tokens=1)
    proc.save_pretrained(path)
    return path


def _url(color) -> str:
    buf = io.BytesIO()
    PILImage.new("RGB", (40, 40), color).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_vision_target_reads_pixels_and_text(vlm_dir):
    t = TransformersVisionTarget(model=str(vlm_dir), device="cpu")
    p = GenParams(max_tokens=6)

    def ask(color):
        msgs = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": _url(color)}},
                                             {"type": "text", "text": "what is in this picture ?"}]}]
        return asyncio.run(t.generate(msgs, p))

    a, a2, b = ask((255, 0, 0)), ask((255, 0, 0)), ask((0, 0, 255))
    assert a.outcome == "ok" and a.completion_tokens > 0 and a.prompt_tokens > 8  # image tokens expanded
    assert a.text == a2.text  # greedy: the same image gives the same answer
    # the pixels reach the model: a different image changes the first-token distribution
    model, proc, _ = t.load()
    outs = []
    for color in ((255, 0, 0), (0, 0, 255)):
        img = PILImage.new("RGB", (40, 40), color)
        enc = proc(text=["<image> what"], images=[img], return_tensors="pt")
        with torch.no_grad():
            outs.append(model(**enc).logits[0, -1])
    assert not torch.allclose(outs[0], outs[1])
    text_only = asyncio.run(t.generate([{"role": "user", "content": "what is it ?"}], p))
    assert text_only.outcome == "ok"
    with pytest.raises(ProviderError, match="base64 data"):
        asyncio.run(t.generate([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]}], p))
    assert t.identity()["type"] == "transformers-vision"
