"""``codepref rank``: score pass matrices and write DPO pairs or KTO samples."""

from __future__ import annotations

import click

from codepref.cli.common import sandbox_options, tqdm_progress


@click.command()
@click.option("--samples", "samples_path", required=True, type=click.Path(dir_okay=False),
              help="Samples JSONL from `codepref generate`.")
@click.option("--matrices", "matrices_path", required=True, type=click.Path(dir_okay=False),
              help="Pass matrices JSONL from `codepref execute`.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output JSONL: DPO prompt/chosen/rejected or KTO prompt/completion/label lines.")
@click.option("--scorer", default="pagerank", show_default=True,
              help="codet, pagerank, minimax (oracle: audits only, needs --allow-ground-truth).")
@click.option("--format", "fmt", type=click.Choice(["dpo", "kto"]), default="dpo", show_default=True,
              help="dpo: preference pairs; kto: the chosen labelled true and the rejected false.")
@click.option("--concat-tests", is_flag=True,
              help="DSTC test-code concatenation: chosen = chosen code + chosen test, rejected = "
                   "rejected code + rejected test.")
@click.option("--pairs-per-task", type=int, default=1, show_default=True,
              help="Most pairs per task (each solution used once).")
@click.option("--min-margin", type=float, default=0.0, show_default=True,
              help="Smallest chosen-rejected score difference, scores divided by the task's best (0..1).")
@click.option("--min-cluster", type=int, default=1, show_default=True,
              help="Keep a pair only when at least this many candidates share the chosen solution's pass "
                   "vector (or behaviour, see --consensus): a consensus filter, fewer pairs, more often right.")
@click.option("--consensus", type=click.Choice(["pass", "behaviour"]), default="pass", show_default=True,
              help="What --min-cluster counts: pass = same pass vector; behaviour = same results on the "
                   "inputs of the model's tests (runs each candidate once in the sandbox; Python).")
@click.option("--sure-rejected", is_flag=True,
              help="Keep a pair only when its rejected solution fails a test the prompt states (a surely "
                   "wrong answer); tasks whose prompt states no test give no pair.")
@click.option("--keep-uniform", is_flag=True, help="Do not skip tasks where every cell passed or none did.")
@click.option("--no-dedupe", is_flag=True, help="Treat identical solution texts as different candidates.")
@click.option("--no-prompt-gate", is_flag=True,
              help="Let solutions that fail a test the prompt states (samples with source=prompt) be chosen.")
@click.option("--tasks", "tasks_spec", default=None,
              help="Task set name or JSONL file giving the prompts (default: the task set named in the "
                   "samples header).")
@click.option("--option", "-o", "scorer_opts", multiple=True, metavar="KEY=VALUE",
              help="A scorer option: -o damping=0.85 -o iterations=20 (pagerank), -o sqrt_group=true (codet).")
@click.option("--allow-ground-truth", is_flag=True,
              help="Allow a ground-truth scorer (oracle) on matrices of hidden tests.")
@click.option("--efficiency", is_flag=True,
              help="Also time the solutions passing the trusted tests in the sandbox and pair faster "
                   "against slower (CodeDPO; Python, DPO only).")
@click.option("--efficiency-repeats", type=int, default=5, show_default=True, help="Timed runs per candidate.")
@click.option("--min-speedup", type=float, default=1.2, show_default=True,
              help="Smallest median-time ratio for an efficiency pair.")
@sandbox_options
def rank(samples_path, matrices_path, out_path, scorer, fmt, concat_tests, pairs_per_task, min_margin,
         min_cluster, consensus, sure_rejected, keep_uniform, no_dedupe, no_prompt_gate, tasks_spec, scorer_opts, allow_ground_truth, efficiency, efficiency_repeats,
         min_speedup, config) -> None:
    """Score each task's solutions from its pass matrix and write preference data.

    Tasks where every solution passes (or fails) every test are skipped; identical
    solutions are one candidate; a solution failing a test the prompt states (e.g. a
    docstring example) is never chosen, and a task where none passes them is skipped; each pair's `why` says how it was picked. Formulas:
    codet = tests passed x group size (CodeT); pagerank = CodeDPO's code/test iteration;
    minimax = DSTC's chosen/rejected code and test.
    """
    from codepref.config import parse_overrides
    from codepref.tasks.source import load_task_map, samples_task_set
    from codepref.pairs.build import PairOptions
    from codepref.pairs.efficiency import EfficiencyOptions
    from codepref.pairs.rank import rank_file

    options = PairOptions(pairs_per_task=pairs_per_task, min_margin=min_margin, skip_uniform=not keep_uniform,
                          dedupe=not no_dedupe, concat_tests=concat_tests, prompt_gate=not no_prompt_gate,
                          min_cluster=min_cluster, consensus=consensus, sure_rejected=sure_rejected)
    eff = EfficiencyOptions(repeats=efficiency_repeats, min_speedup=min_speedup) if efficiency else None
    spec = tasks_spec or samples_task_set(samples_path)
    prompts = {tid: t.prompt for tid, t in load_task_map(spec).items()} if spec else None
    result = rank_file(samples_path, matrices_path, out_path, scorer=scorer,
                       scorer_options=parse_overrides(list(scorer_opts)), fmt=fmt, options=options,
                       prompts=prompts, allow_ground_truth=allow_ground_truth, efficiency=eff, config=config,
                       progress=tqdm_progress("sandbox runs"))
    click.echo(f"{scorer}: {result.summary()} -> {result.path}", err=True)
