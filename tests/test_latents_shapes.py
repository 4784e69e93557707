"""Captioned shapes dataset, planted associations and the attribute classifier."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents import shapes as S
from diffembed.latents.shapes import (
    ATTRIBUTES,
    AttributeClassifier,
    canonical_caption,
    make_caption,
    read_associations,
    render,
    shapes_dataset,
)


@pytest.fixture(scope="module")
def train():
    return shapes_dataset(1500, seed=11)


@pytest.fixture(scope="module")
def held_out():
    return shapes_dataset(800, seed=12)


@pytest.fixture(scope="module")
def classifier(train):
    return AttributeClassifier(random_state=0).fit(train.images, train.attributes)


# ------------------------------------------------------------------------- dataset


def test_dataset_arrays_and_determinism():
    data = shapes_dataset(300, seed=3)
    assert len(data) == 300
    assert data.images.shape == (300, 3, 16, 16)
    assert data.images.dtype == np.float32
    assert data.images.min() >= 0.0
    assert data.images.max() <= 1.0
    assert set(data.attributes) == set(ATTRIBUTES)
    for family, values in data.attributes.items():
        assert values.shape == (300,)
        assert set(values) <= set(ATTRIBUTES[family])
    again = shapes_dataset(300, seed=3)
    np.testing.assert_array_equal(data.images, again.images)
    assert data.captions == again.captions
    other = shapes_dataset(300, seed=4)
    assert not np.array_equal(data.images, other.images)
    # jitter: no two images are identical even with the same attributes
    flat = data.images.reshape(300, -1)
    assert len(np.unique(flat, axis=0)) == 300
    assert repr(data) == "ShapesDataset(n=300, size=16, seed=3, associations={})"
    big = shapes_dataset(20, size=32, seed=0)
    assert big.images.shape == (20, 3, 32, 32)
    assert big.size == 32


def test_captions_name_every_attribute_in_varied_phrasings():
    data = shapes_dataset(400, seed=5)
    for i, caption in enumerate(data.captions):
        words = set(re.findall(r"[a-z]+", caption))
        for family in ATTRIBUTES:
            assert data.attributes[family][i] in words, (caption, family)
        # no other value of any family leaks into a caption
        others = {v for vals in ATTRIBUTES.values() for v in vals} - {
            data.attributes[f][i] for f in ATTRIBUTES
        }
        assert not (words & others), caption
    assert len(set(data.captions)) > 200  # many phrasings, not one template
    assert any("," in c for c in data.captions)
    assert any(c.startswith("a ") for c in data.captions)


def test_make_caption_subsets_and_canonical():
    attrs = {"shape": "square", "colour": "red", "size": "small", "position": "left"}
    assert canonical_caption(attrs) == "a small red square on the left"
    assert canonical_caption(attrs, families=["shape"]) == "a square"
    assert canonical_caption(attrs, families=["colour"]) == "a red shape"
    rng = np.random.default_rng(0)
    seen = {make_caption(attrs, rng, families=["shape"]) for _ in range(50)}
    assert "a square" in seen
    assert all(s.endswith("square") for s in seen)
    for _ in range(30):
        c = make_caption(attrs, rng, families=["colour", "position"])
        words = set(re.findall(r"[a-z]+", c))
        assert {"red", "left", "shape"} <= words
        assert not words & {"square", "small"}
    with pytest.raises(InputError, match="Unknown attribute families"):
        make_caption(attrs, rng, families=["texture"])
    with pytest.raises(InputError, match="no value for the families"):
        make_caption({"shape": "square"}, rng)
    with pytest.raises(InputError, match="not a known colour"):
        make_caption({**attrs, "colour": "purple"}, rng)


def _conditional(data, a_family, a, b_family):
    sel = data.attributes[a_family] == a
    values, counts = np.unique(data.attributes[b_family][sel], return_counts=True)
    return dict(zip(values, counts / sel.sum(), strict=True))


def test_planted_association_frequencies():
    n = 24_000
    data = shapes_dataset(n, associations=[("circle", "red", 0.9), ("blue", "large", 0.2)], seed=1)
    assert data.associations == {("circle", "red"): 0.9, ("blue", "large"): 0.2}
    tol = 4 * np.sqrt(0.25 * 0.75 / (n / 4))  # 4 standard errors
    p = _conditional(data, "shape", "circle", "colour")
    assert abs(p["red"] - 0.9) < tol
    for other in ("green", "blue", "yellow"):  # the rest uniform over the other values
        assert abs(p[other] - 0.1 / 3) < tol
    p = _conditional(data, "shape", "square", "colour")  # other shapes untouched
    assert all(abs(p[c] - 0.25) < tol for c in ATTRIBUTES["colour"])
    p = _conditional(data, "colour", "blue", "size")
    assert abs(p["large"] - 0.2) < tol
    p = _conditional(data, "colour", "green", "size")
    assert abs(p["large"] - 0.5) < tol
    p = _conditional(data, "shape", "circle", "position")  # unplanted pairs independent
    assert all(abs(p[v] - 1 / 3) < tol for v in ATTRIBUTES["position"])
    # negative control: nothing planted -> P(red | circle) is 1/4
    null = shapes_dataset(n, seed=1)
    assert abs(_conditional(null, "shape", "circle", "colour")["red"] - 0.25) < tol


def test_zero_probability_forbids_and_precedence_rule():
    data = shapes_dataset(6000, associations={("circle", "left"): 0.0}, seed=2)
    circles = data.attributes["shape"] == "circle"
    assert not np.any(data.attributes["position"][circles] == "left")
    # two sources into one family: the earlier family (shape) wins for a large circle
    data = shapes_dataset(
        8000, associations=[("circle", "left", 1.0), ("large", "right", 1.0)], seed=2
    )
    pos, shape, size = (data.attributes[f] for f in ("position", "shape", "size"))
    assert np.all(pos[shape == "circle"] == "left")
    assert np.all(pos[(size == "large") & (shape != "circle")] == "right")


@pytest.mark.parametrize(
    ("associations", "match"),
    [
        ([("circle", "purple", 0.5)], r"Unknown attribute value 'purple'.*colour: red, green"),
        ([("circle", "square", 0.5)], "same family 'shape'"),
        ([("red", "circle", 0.5)], r"drawn before 'red'.*shape -> colour -> size -> position"),
        ([("circle", "red", 1.5)], r"probability 1\.5; it must be a number in \[0, 1\]"),
        ([("circle", "red", -0.1)], "in \\[0, 1\\]"),
        ([("circle", "red", 0.9), ("circle", "blue", 0.5)], "conflict"),
        ([("circle", "red")], "must be a triple"),
        ({"circle": 0.5}, "must be a pair"),
        ("circle,red,0.9", "not a string"),
    ],
)
def test_association_errors(associations, match):
    with pytest.raises(InputError, match=match):
        shapes_dataset(10, associations=associations)


def test_parameter_errors():
    with pytest.raises(InputError, match="n=0 is out of range"):
        shapes_dataset(0)
    with pytest.raises(InputError, match="size=20 is not supported; choose one of 16, 24, 32"):
        shapes_dataset(5, size=20)
    with pytest.raises(InputError, match="not a known shape"):
        render("hexagon", "red", "small", "left")


def test_read_associations(tmp_path):
    path = tmp_path / "plant.json"
    path.write_text(json.dumps([["circle", "red", 0.9], ["square", "left", 0.8]]))
    assert read_associations(path) == {("circle", "red"): 0.9, ("square", "left"): 0.8}
    path.write_text(json.dumps({"circle": "red"}))
    with pytest.raises(InputError, match="JSON list of"):
        read_associations(path)
    path.write_text("[[")
    with pytest.raises(InputError, match="not valid JSON"):
        read_associations(path)
    with pytest.raises(InputError, match="does not exist"):
        read_associations(tmp_path / "missing.json")
    path.write_text(json.dumps([["red", "circle", 0.9]]))
    with pytest.raises(InputError, match="drawn before"):
        read_associations(path)


def test_to_table():
    pytest.importorskip("pyarrow")
    data = shapes_dataset(12, seed=0)
    table = data.to_table()
    assert table.column_names == ["id", "caption", "shape", "colour", "size", "position"]
    assert table.column("id").to_pylist() == list(range(12))
    assert table.column("caption").to_pylist() == data.captions
    assert table.column("colour").to_pylist() == list(data.attributes["colour"])


# ------------------------------------------------------------------------- rendering


def test_render_geometry_and_colour():
    def mass(img):
        return img.max(axis=0)

    def centroid_x(img):
        m = mass(img)
        return (m.sum(axis=0) * (np.arange(16) + 0.5)).sum() / m.sum()

    xs = [centroid_x(render("square", "red", "large", p)) for p in ATTRIBUTES["position"]]
    assert xs[0] < xs[1] - 2 < xs[2] - 4
    assert abs(xs[1] - 8.0) < 0.2
    small = mass(render("circle", "red", "small", "centre")).sum()
    large = mass(render("circle", "red", "large", "centre")).sum()
    assert large > 2 * small
    img = render("circle", "green", "small", "centre")
    assert img.shape == (3, 16, 16)
    assert img.dtype == np.float32
    assert img[1].sum() > 3 * img[0].sum()
    assert img[1].sum() > 3 * img[2].sum()
    assert img[:, 0, 0].sum() == 0.0  # black background
    # the four shapes have different silhouettes at 16 px, small and large
    for size_name in ("small", "large"):
        masks = [mass(render(s, "red", size_name, "centre")) for s in ATTRIBUTES["shape"]]
        for i in range(4):
            for j in range(i + 1, 4):
                assert np.abs(masks[i] - masks[j]).sum() > 3.0
    # the square fills its bounding box, the cross and triangle do not
    sq, tri, cross = (
        mass(render(s, "red", "large", "centre")) > 0.5 for s in ("square", "triangle", "cross")
    )
    assert sq[sq.any(1)][:, sq.any(0)].mean() > 0.95
    assert tri[tri.any(1)][:, tri.any(0)].mean() < 0.7
    assert cross[cross.any(1)][:, cross.any(0)].mean() < 0.7
    jittered = render("circle", "red", "small", "left", rng=np.random.default_rng(0))
    assert not np.array_equal(jittered, render("circle", "red", "small", "left"))


# ------------------------------------------------------------------------- classifier


def test_classifier_accuracy_held_out_and_noisy(classifier, held_out):
    scores = classifier.score(held_out.images, held_out.attributes)
    assert all(acc >= 0.98 for acc in scores.values()), scores
    rng = np.random.default_rng(1)
    noisy = np.clip(held_out.images + rng.normal(0, 0.06, held_out.images.shape), 0, 1)
    noisy_scores = classifier.score(noisy.astype(np.float32), held_out.attributes)
    assert all(acc >= 0.95 for acc in noisy_scores.values()), noisy_scores
    # negative control: shuffled labels are at chance
    shuffled = {f: rng.permutation(v) for f, v in held_out.attributes.items()}
    chance = classifier.score(held_out.images, shuffled)
    assert all(acc < 0.6 for acc in chance.values()), chance


def test_classifier_outputs(classifier, held_out):
    images = held_out.images[:20]
    proba = classifier.predict_proba(images)
    for family, values in ATTRIBUTES.items():
        assert proba[family].shape == (20, len(values))
        np.testing.assert_allclose(proba[family].sum(axis=1), 1.0)
    pred = classifier.predict(images)
    assert all(pred[f][0] in ATTRIBUTES[f] for f in ATTRIBUTES)
    captions = classifier.captions(images)
    assert captions[0] == canonical_caption({f: pred[f][0] for f in ATTRIBUTES})
    assert re.fullmatch(
        r"a (small|large) \w+ \w+ (on the left|in the centre|on the right)", captions[0]
    )
    single = classifier.predict(images[0])  # one (3, h, w) image
    assert single["shape"].shape == (1,)


def test_classifier_save_load_roundtrip(classifier, held_out, tmp_path):
    classifier.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == [
        "classifier.json",
        "classifier.npz",
    ]
    loaded = AttributeClassifier.load(tmp_path / "clf")
    a = classifier.predict_proba(held_out.images)
    b = loaded.predict_proba(held_out.images)
    for family in ATTRIBUTES:
        np.testing.assert_array_equal(a[family], b[family])
    with np.load(tmp_path / "clf" / "classifier.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    with pytest.raises(InputError, match=r"holds no classifier\.json"):
        AttributeClassifier.load(tmp_path)


def test_classifier_errors(classifier, train):
    with pytest.raises(InputError, match="not fitted yet"):
        AttributeClassifier().predict(train.images[:2])
    with pytest.raises(InputError, match="fitted on 16x16 images, got 32x32"):
        classifier.predict(shapes_dataset(2, size=32).images)
    with pytest.raises(InputError, match=r"shape \(n, 3, size, size\)"):
        classifier.predict(np.zeros((2, 16, 16)))
    with pytest.raises(InputError, match=r"values in \[0, 1\].*\(x \+ 1\) / 2"):
        classifier.predict(train.images[:2] * 2 - 1)
    with pytest.raises(InputError, match="lacks the families"):
        AttributeClassifier().fit(train.images[:10], {"shape": train.attributes["shape"][:10]})
    bad = {f: v[:10] for f, v in train.attributes.items()}
    bad["colour"] = np.array(["purple"] * 10)
    with pytest.raises(InputError, match="unknown values"):
        AttributeClassifier().fit(train.images[:10], bad)


def test_training_is_deterministic(train):
    small = {f: v[:300] for f, v in train.attributes.items()}
    a = AttributeClassifier(max_iter=3, random_state=5).fit(train.images[:300], small)
    b = AttributeClassifier(max_iter=3, random_state=5).fit(train.images[:300], small)
    np.testing.assert_array_equal(
        a.predict_proba(train.images[:50])["shape"], b.predict_proba(train.images[:50])["shape"]
    )
    assert S.FAMILIES == ("shape", "colour", "size", "position")


def test_partial_captions_name_each_family_with_the_mention_probability():
    full = shapes_dataset(400, seed=3)
    part = shapes_dataset(400, mention=0.5, seed=3)
    np.testing.assert_array_equal(full.images, part.images)  # only the captions differ
    families = ("shape", "colour", "size")
    named = np.array(
        [[str(part.attributes[f][i]) in re.findall(r"[a-z]+", part.captions[i]) for f in families]
         for i in range(400)]
    )
    # each family is named about half the time (a little more: at least one is always named)
    assert 0.45 < named.mean() < 0.65
    assert not named.all(axis=1).all()
    full_named = [str(full.attributes[f][i]) in re.findall(r"[a-z]+", full.captions[i])
                  for f in families for i in range(400)]
    assert all(full_named)
    with pytest.raises(InputError, match="mention"):
        shapes_dataset(10, mention=0.0)
