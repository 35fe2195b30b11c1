"""The words every layer shares: scales, verdicts, run statuses (one place for each list)."""

# tiny: generated data on a CPU; small: one GPU; paper: the papers' recipes on a cluster.
SCALES = ("tiny", "small", "paper")

# A claim's verdict (experiments/ decide them, studies write theirs in <study>.claims.json):
#   holds / fails  the control learned, the paper's precondition is present and the runs agree
#                  with / contradict the paper;
#   inconclusive   the experiment cannot speak (the control did not learn, ...): the detail says why;
#   not_run        nothing measured the claim.
VERDICTS = ("holds", "fails", "inconclusive", "not_run")

# status.json of a run: `ok`, or `diverged` (non-finite or exploding loss, stuck at chance).
RUN_STATUSES = ("ok", "diverged")
