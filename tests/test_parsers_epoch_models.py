"""The Notable AI Models adapter on the real mirrored table."""

import json

import pytest

from assets.parsers import ParseError
from assets.parsers.epoch_models import parse_notable_models
from conftest import MIRROR

pytestmark = pytest.mark.unit

TABLE = MIRROR / (
    "raw.githubusercontent.com/IyngkarranKumar/compute_thresholds_public/"
    "7141f9bc8c2864d965ef82e031ecad44559780c7/data/notable_ai_models_24_02_2025.csv"
)


def test_real_table_attributes():
    parsed = parse_notable_models(TABLE.read_bytes(), source="epoch_models", file=TABLE.name)
    assert parsed.models.height == 895 and parsed.scores.height == 0
    grok = json.loads(parsed.models.filter(model_id="Grok-3")["attributes"][0])
    assert grok["training_flop"] == 4.64e26 and grok["publication_date"] == "2025-02-17"
    attributes = [json.loads(a) for a in parsed.models["attributes"]]
    assert sum(a["training_flop"] is None for a in attributes) == 444  # unknown compute kept as null
    assert sum(a["parameters"] is None for a in attributes) == 299


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("2025-02-17", "17/02/2025", 1), "is not a YYYY-MM-DD date"),
        (lambda t: t.replace("4.64e+26", "about 5e26", 1), "'about 5e26' is not a number"),
        (lambda t: t.replace("Model,Domain", "Name,Domain", 1), r"missing column\(s\) \['Model'\]"),
    ],
)
def test_bad_tables(edit, message):
    with pytest.raises(ParseError, match=message):
        parse_notable_models(edit(TABLE.read_text(encoding="utf-8")).encode(), source="epoch_models", file=TABLE.name)
