"""Training curves in the report (issue 20 item 3): each run's history.csv drawn per loss."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.core.errors import UserError
from bench.report.curves import HISTORY_FILE, curves_figure, read_history
from bench.trainer import HISTORY_FILE as WRITTEN


def test_the_report_reads_the_file_the_trainer_writes():
    assert HISTORY_FILE == WRITTEN


def test_each_loss_gets_its_own_panel_and_the_rates_share_one(tmp_path):
    path = tmp_path / HISTORY_FILE
    pd.DataFrame(
        {
            "step": [50, 100, 150],
            "critic_gp": [3.0, 1.0, 0.5],
            "critic_cls": [1.9, 1.2, 0.8],
            "generator_rec": [0.4, 0.3, 0.2],
            "lr_generator": [1e-4, 1e-4, 5e-5],
            "lr_critic": [1e-4, 1e-4, 5e-5],
            "s_per_step": [0.3, 0.3, 0.3],
        }
    ).to_csv(path, index=False)
    figure = curves_figure(read_history(path), "stargan/synthetic")
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [a.get_title() for a in visible] == [
        "critic_gp",
        "critic_cls",
        "generator_rec",
        "learning rate",
    ]
    assert all(a.get_xlabel() == "training step" for a in visible)
    assert [t.get_text() for t in visible[-1].get_legend().get_texts()] == ["generator", "critic"]
    assert list(visible[0].lines[0].get_ydata()) == [3.0, 1.0, 0.5]
    assert (
        "stargan/synthetic" in figure.get_suptitle() and "every 50 steps" in figure.get_suptitle()
    )


@pytest.mark.parametrize("text", ["", "loss\n1.0\n", "step,loss\n"])
def test_a_file_that_is_no_history_is_named_in_one_line(tmp_path, text):
    path = tmp_path / HISTORY_FILE
    path.write_text(text)
    with pytest.raises(UserError, match=r"history\.csv: not a training history"):
        read_history(path)
