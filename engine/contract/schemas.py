"""Arrow schemas of the datasets the engine writes (see docs/format.md)."""
import pyarrow as pa

IMPORTANCE = "importance"
PREMASKED = "premasked"

SCHEMAS: dict[str, pa.Schema] = {
    # Stage 2: one row per labeled sentence. `input_ids` are wordpieces without [CLS]/[SEP];
    # `important` is the rule's raw decision per wordpiece; `labels` are the tagger's targets
    # (stop words and misclassified sentences zeroed).
    IMPORTANCE: pa.schema(
        [
            ("example_id", pa.int64()),
            ("sentence_index", pa.int32()),
            ("label", pa.int32()),
            ("input_ids", pa.list_(pa.int32())),
            ("important", pa.list_(pa.bool_())),
            ("labels", pa.list_(pa.int8())),
            ("p_full", pa.float32()),
            ("correct", pa.bool_()),
        ]
    ),
    # Stage 4: one row per corpus sentence. `scores` = tagger logit(1) - logit(0) per
    # wordpiece; `mask_positions` index `input_ids`, best first.
    PREMASKED: pa.schema(
        [
            ("doc_id", pa.int64()),
            ("sentence_index", pa.int32()),
            ("input_ids", pa.list_(pa.int32())),
            ("scores", pa.list_(pa.float32())),
            ("mask_positions", pa.list_(pa.int32())),
        ]
    ),
}
