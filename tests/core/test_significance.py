"""McNemar's exact test on paired predictions, and `python -m core compare`."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from core.cli import main
from core.errors import RunError
from core.significance import compare_correctness, mcnemar_exact


@pytest.mark.parametrize("a_only,b_only", [(0, 5), (1, 10), (7, 7), (12, 30), (40, 3), (0, 1)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(a_only, b_only):
    expected = binomtest(b_only, a_only + b_only, 0.5).pvalue
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_edge_cases():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    with pytest.raises(ValueError, match="a_only=-1"):
        mcnemar_exact(-1, 3)


def test_comparison_counts_and_sentences():
    a = {f"img{i}": i < 80 for i in range(100)}  # right on 0..79
    b = {f"img{i}": i < 80 or i >= 95 for i in range(100)}  # also right on 95..99
    result = compare_correctness(1, 2, a, b)
    assert (result.n, result.a_correct, result.b_correct) == (100, 80, 85)
    assert (result.a_only, result.b_only) == (0, 5)
    assert result.p_value == pytest.approx(0.0625)
    assert result.sentence().startswith("Run #2 looks better, but the difference could be chance")
    b.update({f"img{i}": True for i in range(85, 95)})  # now 15 right only under B
    assert (
        compare_correctness(1, 2, a, b)
        .sentence()
        .startswith("Run #2 is really better than run #1 (p = 6.1e-05)")
    )
    assert compare_correctness(1, 2, a, a).sentence().startswith("Neither run is better")


def test_different_images_are_refused_in_one_sentence():
    with pytest.raises(RunError, match="scored on different images"):
        compare_correctness(1, 2, {"x": True}, {"y": True})


def _run_with_predictions(make_run, right: list[bool]) -> int:
    labels = np.array([i % 2 for i in range(len(right))])
    predicted = np.where(right, labels, 1 - labels)
    probs = np.eye(2)[predicted] * 0.8 + 0.1
    paths = [f"/data/validation/{i}.png" for i in range(len(right))]
    predictions = (paths, labels, probs)
    return make_run(name="paired", epochs=1, classes=["cats", "dogs"], predictions=predictions).id


def test_cli_compare_on_stored_predictions(capsys, make_run):
    a = _run_with_predictions(make_run, [True] * 30 + [False] * 20)
    b = _run_with_predictions(make_run, [True] * 48 + [False] * 2)
    assert main(["compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["a_only"], result["b_only"], result["n"]) == (0, 18, 50)
    assert result["p_value"] == pytest.approx(2 / 2**18)
    assert result["sentence"].startswith(f"Run #{b} is really better than run #{a}")
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"right only under #{b}: 18" in out and "McNemar exact p" in out


def test_cli_compare_without_predictions_is_one_line(capsys, make_run):
    a = _run_with_predictions(make_run, [True, False])
    queued = make_run(status="queued", name="later", epochs=1).id
    assert main(["compare", str(a), str(queued)]) == 1
    err = capsys.readouterr().err
    assert f"Run #{queued} has no validation predictions (queued)" in err
    assert err.count("\n") == 1


def test_the_mcnemar_reading_in_korean():
    from core import i18n

    a = {f"img{i}": i < 80 for i in range(100)}
    b = {**a, **{f"img{i}": True for i in range(85, 100)}}  # 15 right only under B
    i18n.set_language("ko")
    sentence = compare_correctness(1, 2, a, b).sentence()
    assert sentence == (
        "실행 #2이(가) 실행 #1보다 정말 더 낫습니다(p = 6.1e-05): 이미지 100개 중 15개에서 "
        "결과가 엇갈립니다(실행 #1만 맞힌 이미지 0개, 실행 #2만 맞힌 이미지 15개)."
    )
    with pytest.raises(RunError, match="서로 다른 이미지"):
        compare_correctness(1, 2, {"x": True}, {"y": True})
