"""Training-dynamics studies of the three papers, one module per study.

Every study is a command, `python -m studies.<name> --scale tiny|small|paper --out CSV`, that
writes a tidy CSV, a figure (`<stem>.png` and `<stem>.pdf` next to the CSV) and the verdicts
of the claims it checks (`<stem>.claims.json`: a list of {"claim", "verdict", "figures",
"detail"}, verdict one of "holds" | "fails" | "not_run").

Initialisation studies (measured on freshly built models, no training):
  xiong_gradnorm           Xiong 2020 Fig. 3: FFN gradient norms per layer and vs depth
  admin_table1_vanishing   Liu 2020 Table 1: decoder gradient vanishing at 18L-18L
  admin_output_change      Liu 2020 Fig. 4: output change under perturbation vs depth
  admin_dependency         Liu 2020 Sec. 4: dependency beta_ii on the own residual branch
  hessian_spectrum         Zhang & Mackey 2022: Hessian spectrum at init by stochastic Lanczos quadrature
  entropy_bound            Zhai 2023 Thm 3.1: attention entropy >= its spectral lower bound
Training studies (read the `metrics.jsonl` of training runs found under results/<scale>/runs
or given on the command line):
  admin_relative_norms     Liu 2020 Fig. 5: relative gradient vs Adam update norms (runs a
                           short Adam loop of its own when there is no run)
  sigma_entropy            Zhai 2023 Fig. 1 / Sec. 3: entropy collapse and spectral growth;
                           also gives the Thm 3.1 verdict (entropy_bound at init and on the
                           runs' checkpoints), so that claim never needs training
Widths stay the papers' (d = 512) at every scale; the scale sets seeds, batch sizes, depths
and Lanczos steps (each module's SETTINGS), and `--quick` shrinks everything to a smoke test.
Inputs: a fixed batch from a prepared translation directory (`--data DIR`) or deterministic
synthetic sentence pairs (Zipf-distributed ids over 10k symbols, lengths 10-40); the CSV's
`data` column says which.
Shared helpers: `common` (command line, batches, models, outputs), `data` (prepared data),
`numerics` (gradient and norm measurements), `lanczos` (Lanczos and stochastic Lanczos
quadrature).
"""
