"""``codepref generate``: sample solutions and self-generated tests for a task set."""

from __future__ import annotations

import click

from codepref.cli.common import cluster_option_for, data_option, tqdm_progress
from codepref.generation.protocols import protocols_help


@click.command()
@click.option("--tasks", "tasks_spec", required=True,
              help="A task set name (e.g. humaneval) or a JSONL file of prompts "
                   '({"task_id","prompt","entry_point"?,"language"?} per line).')
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Samples JSONL (one solution or test per line); an interrupted run resumes.")
@click.option("--model", default=None, help="Packaged model name, .gguf file, model folder, HF id or served "
                                            "name (default qwen2.5-coder-0.5b-instruct).")
@click.option("--backend", default=None, help="auto (default: torch, codepref's own decoder, for the default model on CPUs with native bf16, else llamacpp), llamacpp, torch, hf, openai or vllm.")
@click.option("--n-solutions", type=int, default=None, help="Solutions per task (8).")
@click.option("--n-tests", type=int, default=None, help="Most distinct asserts kept per task (10); 0 for none.")
@click.option("--test-samples", type=int, default=None, help="Test-writing completions per task (2).")
@click.option("--temperature", type=float, default=None, help="Sampling temperature, 0 = greedy (0.8).")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling threshold (0.95).")
@click.option("--max-tokens", type=int, default=None,
              help="Most new tokens per solution (512, or the --protocol's default).")
@click.option("--test-max-tokens", type=int, default=None, help="Most new tokens per test-writing completion (384).")
@click.option("--seed", type=int, default=None, help="Base seed (0).")
@click.option("--prompt-style", type=click.Choice(["auto", "completion", "chat"]), default=None,
              help="completion (continue the prompt) or chat (instruction); auto picks chat for instruct models. "
                   "Selects the protocol of that name.")
@click.option("--protocol", default=None, metavar="NAME",
              help=f"The solution prompts' protocol (prompt, stops, max tokens, answer extraction): {protocols_help()}. "
                   "Test prompts keep the auto style under qwen-coder and evalplus-instruct.")
@click.option("--prompt-tests/--no-prompt-tests", default=None,
              help="Also keep the tests the prompt states (docstring examples, asserts) as test samples "
                   "marked source=prompt; they do not count toward --n-tests (default: on).")
@click.option("--limit", type=int, default=None, help="Only the first N tasks.")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="A backend option, e.g. -o parallel=32 (llamacpp), -o base_url=http://host:8000/v1 "
                   "(openai), -o adapter=DIR (hf, vllm), -o batch_size=8 (hf). Repeatable.")
@data_option
@cluster_option_for("the generation (one actor per node offering codepref_generator)")
def generate(tasks_spec, out_path, model, backend, n_solutions, n_tests, test_samples, temperature, top_p,
             max_tokens, test_max_tokens, seed, prompt_style, protocol, prompt_tests, limit, options, data,
             cluster) -> None:
    """Sample N solutions and up to M self-generated assert tests per task.

    Tests are asked from the same model without showing any solution, parsed into single
    independent asserts, deduplicated and capped at --n-tests; the examples the prompt
    itself states are kept too (--no-prompt-tests to leave them out). Each output line is a
    sample {"task_id","kind":"solution"|"test","index","text","generator","params",
    "logprob","raw"}.
    """
    from codepref.config import GenerationConfig, from_mapping, parse_overrides
    from codepref.generation.protocols import PROTOCOLS
    from codepref.generation.stage import generate_samples
    from codepref.tasks.source import load_tasks

    values = {"model": model, "backend": backend, "n_solutions": n_solutions, "n_tests": n_tests,
              "test_samples": test_samples, "temperature": temperature, "top_p": top_p,
              "max_tokens": max_tokens, "test_max_tokens": test_max_tokens, "seed": seed, "prompt_style": prompt_style,
              "protocol": protocol, "prompt_tests": prompt_tests}
    values = {k: v for k, v in values.items() if v is not None}
    if protocol is not None and max_tokens is None:  # an unknown name: one line with the closest names
        values["max_tokens"] = PROTOCOLS.get(protocol).max_tokens
    values["backend_options"] = parse_overrides(list(options))
    config = from_mapping(GenerationConfig, values)
    tasks, header = load_tasks(tasks_spec, data)
    if limit is not None:
        tasks = tasks[:limit]
    # with a cluster: one actor per node offering codepref_generator (a GPU each for vllm)
    counts = generate_samples(tasks, out_path, config, progress=tqdm_progress("completions"),
                              extra_header=header, cluster=cluster)
    if counts:
        stated = f", {counts['prompt_tests']} of them stated in the prompts" if counts["prompt_tests"] else ""
        click.echo(f"wrote {counts['solution']} solutions and {counts['test']} tests{stated} for {len(tasks)} tasks "
                   f"({counts['raw_tests']} test completions, {counts['tests_dropped']} asserts dropped)", err=True)
    else:
        click.echo("nothing to generate: the output is complete", err=True)
