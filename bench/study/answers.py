"""Reading the answer key and the participants' answer files, and the attention-check filter.

A participant who fails any attention check (or whose file lacks one) is dropped with all
of their answers: an identical pair must be answered "same", an obvious pair with the
genuine side. When a trial was answered twice (a reload mid-answer), the last answer counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.errors import UserError
from bench.study.design import COMPARISON, SAME

KEY_FIELDS = ("kit_id", "trials", "images", "models")
ANSWER_FIELDS = ("trial_id", "choice", "chosen")
CHOICES = ("left", "right", SAME)


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: no such {what} file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: malformed JSON ({error})") from None


def read_key(path: Path) -> dict[str, Any]:
    """The answer key written by ``bench study make``; clear error when absent or malformed."""
    key = _read_json(Path(path), "answer key")
    if not isinstance(key, dict) or any(field not in key for field in KEY_FIELDS):
        raise UserError(f"{path}: not a study answer key (needs {', '.join(KEY_FIELDS)})")
    return key


def read_answers(path: Path, key: dict[str, Any]) -> pd.DataFrame:
    """One participant's answers as a frame (participant_id, trial_id, choice, chosen,
    response_ms, file), checked against ``key``: same kit, known trials, chosen image shown."""
    path = Path(path)
    data = _read_json(path, "answers")
    if not isinstance(data, dict) or not isinstance(data.get("answers"), list):
        raise UserError(f"{path}: not a study answers file (no 'answers' list)")
    if data.get("kit_id") != key["kit_id"]:
        raise UserError(
            f"{path}: answers from another kit (kit_id {data.get('kit_id')!r}, "
            f"the key is for {key['kit_id']!r})"
        )
    participant = data.get("participant_id")
    if not isinstance(participant, str) or not participant:
        raise UserError(f"{path}: no participant_id")
    rows = []
    for number, answer in enumerate(data["answers"], 1):
        if not isinstance(answer, dict) or any(f not in answer for f in ANSWER_FIELDS):
            raise UserError(f"{path}: answer {number} lacks {', '.join(ANSWER_FIELDS)}")
        trial = key["trials"].get(answer["trial_id"])
        if trial is None:
            raise UserError(
                f"{path}: answer {number} names trial {answer['trial_id']!r}, "
                "which this key does not have (answers from another kit?)"
            )
        if answer["choice"] not in CHOICES:
            raise UserError(f"{path}: answer {number} has choice {answer['choice']!r}")
        chosen = answer["chosen"]
        if (answer["choice"] == SAME) != (chosen is None) or (
            chosen is not None and chosen not in trial["images"]
        ):
            raise UserError(
                f"{path}: answer {number} chose {chosen!r}, not an image of trial "
                f"{answer['trial_id']} (answers from another kit?)"
            )
        rows.append(
            {
                "participant_id": participant,
                "trial_id": answer["trial_id"],
                "choice": answer["choice"],
                "chosen": chosen,
                "response_ms": answer.get("response_ms"),
                "file": str(path),
            }
        )
    columns = ["participant_id", "trial_id", "choice", "chosen", "response_ms", "file"]
    frame = pd.DataFrame(rows, columns=columns).drop_duplicates("trial_id", keep="last")
    frame.attrs["participant_id"] = participant
    return frame


@dataclass
class Screened:
    """Answers that passed the attention checks, and what was dropped."""

    kept: pd.DataFrame
    participants: int
    dropped_participants: list[str]
    dropped_answers: int


def screen(answers: pd.DataFrame, key: dict[str, Any]) -> Screened:
    """Drop every participant who failed or skipped an attention check; keep comparisons only."""
    checks = {tid: t for tid, t in key["trials"].items() if t["kind"] != COMPARISON}
    dropped: list[str] = []
    kept = []
    participants = list(dict.fromkeys(answers["participant_id"]))
    for participant in participants:
        own = answers[answers["participant_id"] == participant]
        given = {r.trial_id: (r.chosen if r.choice != SAME else SAME) for r in own.itertuples()}
        if all(given.get(tid, "(missing)") == trial["correct"] for tid, trial in checks.items()):
            kept.append(own[~own["trial_id"].isin(list(checks))])
        else:
            dropped.append(participant)
    columns = answers.columns
    kept_frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)
    dropped_answers = int(answers["participant_id"].isin(dropped).sum())
    return Screened(kept_frame, len(participants), dropped, dropped_answers)
