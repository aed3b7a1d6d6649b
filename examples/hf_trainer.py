"""Pretrain a masked-LM with the Hugging Face Trainer on a premasked dataset of taskpt's store.

    python examples/hf_trainer.py STORE/premasked/ID MODEL_DIR OUT_DIR [--max-steps 100]

The instances are the ones `taskpt pretrain` packs (trainer.premasked.load_premasked); the
collator masks the tagger's positions with BERT's 80/10/10 rule and returns `labels`.
"""
import argparse

from transformers import AutoModelForMaskedLM, AutoTokenizer, Trainer, TrainingArguments

from engine.contract.tokenizer import check_same_tokenizer
from trainer.premasked import MaskedLMCollator, load_premasked


def main(argv=None) -> Trainer:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset"), parser.add_argument("model"), parser.add_argument("out")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--max-seq", type=int, default=128)
    args = parser.parse_args(argv)
    check_same_tokenizer(args.dataset, args.model)  # the masks index this tokenizer's wordpieces
    train = load_premasked(args.dataset, max_seq=args.max_seq)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForMaskedLM.from_pretrained(args.model)
    trainer = Trainer(model=model, train_dataset=train,
                      data_collator=MaskedLMCollator(tokenizer, max_seq=args.max_seq),
                      args=TrainingArguments(args.out, max_steps=args.max_steps, per_device_train_batch_size=16,
                                             learning_rate=1e-3, logging_steps=5, report_to=[],
                                             remove_unused_columns=False))  # the collator reads mask_positions
    trainer.train()
    trainer.save_model(args.out)
    return trainer


if __name__ == "__main__":
    main()
