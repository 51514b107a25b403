"""`cnnlab train` and `cnnlab recipes`: parsing only; cnnlab.train.launch starts or resumes
the run."""

from __future__ import annotations

import argparse

from cnnlab.cli.options import DATASETS, NORMALIZATIONS, add_device_options
from cnnlab.runs.config import (
    AUGMENTATIONS,
    ENGINES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    defaults,
)

DEFAULTS = defaults()


def _default(name: str) -> str:
    value = DEFAULTS[name]
    if value in (None, ""):
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _train(args: argparse.Namespace) -> int:
    from cnnlab.train.launch import prepare, run_to_end

    settings = {name: getattr(args, name, None) for name in TrainConfig.__dataclass_fields__}
    run = prepare(settings, config_file=args.config, resume=args.resume)
    result = run_to_end(run)
    if result is None:
        return 130
    if run.cluster.is_main:
        print(f"trained in {result['train_seconds']:.1f} s")
        print(f"test accuracy: {result['test_accuracy']:.4f}")
    return 0


def add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a zoo model or your own network on a dataset",
        description="Train a zoo model or your own network (path/to/net.py:Name, whose class "
                    "or factory receives num_classes and in_channels if it takes them) with "
                    "the course's parameters, on the CPU or a GPU. Checkpoints after every "
                    "epoch; --resume continues exactly where a run stopped. Your network's "
                    "file is copied into the run folder, so the run can be resumed, "
                    "evaluated and exported after you edit it.")
    train.add_argument("model", nargs="?", help="a zoo model (see `cnnlab models`), "
                                                "path/to/net.py:Name or package.module:factory")
    train.add_argument("--dataset", choices=DATASETS,
                       help=f"default {_default('dataset')}")
    train.add_argument("--epochs", type=int, help=f"default {_default('epochs')}")
    train.add_argument("--batch-size", type=int, help=f"default {_default('batch_size')}")
    train.add_argument("--lr", type=float,
                       help=f"the peak learning rate (default {_default('lr')}). With the "
                            "default onecycle schedule the rate is not constant: it warms up "
                            "from lr/25 to lr over the first 30%% of the steps, then anneals "
                            "to lr/250000; --schedule none keeps it at lr")
    train.add_argument("--optimizer", choices=OPTIMIZERS,
                       help=f"default {_default('optimizer')}")
    train.add_argument("--momentum", type=float,
                       help=f"SGD's momentum (default {_default('momentum')})")
    train.add_argument("--nesterov", action="store_true", default=None,
                       help="Nesterov momentum, with --optimizer sgd (default off)")
    train.add_argument("--weight-decay", type=float,
                       help=f"default {_default('weight_decay')}")
    train.add_argument("--dropout", type=float,
                       help="the model's dropout probability (default: the model's own; your "
                            "network must take a dropout parameter)")
    train.add_argument("--label-smoothing", type=float,
                       help=f"default {_default('label_smoothing')}")
    train.add_argument("--schedule", choices=SCHEDULES,
                       help=f"the learning rate over the run (default {_default('schedule')}; "
                            "cosine: from lr to 0; step: /10 after each third)")
    train.add_argument("--augment", help=f"comma-separated: {', '.join(AUGMENTATIONS)} "
                                         "(default none)")
    train.add_argument("--train-size", type=int,
                       help="train on a class-balanced subset of this many images (default: "
                            "every training image)")
    train.add_argument("--classes", type=int, nargs="+", metavar="N",
                       help="train on some of the dataset's classes only, given by number "
                            "(0 to 9 for Fashion-MNIST); the run numbers them 0, 1, ... in "
                            "this order, and eval, the report and the lab see those alone "
                            "(default: every class)")
    train.add_argument("--val-size", type=int,
                       help="images held out of the training set for validation (default "
                            f"{_default('val_size')})")
    train.add_argument("--seed", type=int, help=f"default {_default('seed')}")
    train.add_argument("--normalize", choices=NORMALIZATIONS,
                       help="what the model receives: the [0, 1] pixels normalised by the "
                            "dataset's mean and std, or the pixels themselves (default "
                            f"{_default('normalize')}); eval, export, the report and the "
                            "leaderboard apply the same")
    train.add_argument("--engine", choices=ENGINES,
                       help="default torch for a zoo model; your network's is the one its "
                            "file uses")
    # unset: the --config file's or the recipe's value, else auto
    add_device_options(train, default=None, amp_off=True)
    train.add_argument("--threads", type=int,
                       help="CPU threads: torch's (default: torch's choice); with --engine "
                            "scratch, 2 or more train half of each batch in a second process "
                            "(Linux)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATASET-seedN)")
    train.add_argument("--data-dir", help="folder holding the dataset files (default: "
                                          "$CNNLAB_DATA, ~/.cache/cnnlab/NAME or "
                                          "/usr/share/datasets/NAME, else downloaded)")
    train.add_argument("--config", help="a TOML file with the same keys; flags win")
    train.add_argument("--recipe", help="start from a named recipe (see cnnlab recipes); "
                                        "flags win, e.g. --seed")
    train.add_argument("--init", metavar="RUN_OR_WEIGHTS",
                       help="fine-tune: start from a run's weights (or a checkpoint, a "
                            ".safetensors or a torch state-dict file): the layers that match "
                            "load, a head for another number of classes starts afresh "
                            "(default none: the model's own initialisation)")
    train.add_argument("--freeze", nargs="+", metavar="PREFIX",
                       help="keep these layers as loaded (module names or prefixes: conv1 "
                            "layer1): no gradient, no step, batch norm on its loaded "
                            "statistics (default none: every layer trains)")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    train.set_defaults(handler=_train)


def _recipes(args: argparse.Namespace) -> int:
    from cnnlab.runs.config import values_to_toml
    from cnnlab.train import recipes

    if args.name:
        recipe = recipes.load(args.name)
        print(f"# {recipe.name}: {recipe.summary}")
        print(f"# target: {recipe.target()}")
        print(f"# measured: {recipe.measured}")
        print("# cnnlab train --recipe " + recipe.name + " runs it; as a --config file:")
        print(values_to_toml(recipe.train), end="")
        return 0
    for recipe in sorted(map(recipes.load, recipes.names()),
                         key=lambda recipe: (recipe.dataset, recipe.budget_seconds)):
        print(f"{recipe.name}\n    {recipe.summary}\n    target: {recipe.target()}\n"
              f"    measured: {recipe.measured}")
    return 0


def add_recipes(commands) -> None:
    recipes = commands.add_parser(
        "recipes", help="the named training recipes and the accuracy and time they reach",
        description="List the recipes cnnlab train --recipe NAME runs: what each trains, "
                    "its target (test accuracy within a time budget, on every seed) and what "
                    "was measured. With a NAME, print that recipe as a --config file.")
    recipes.add_argument("name", nargs="?", help="print this recipe's configuration")
    recipes.set_defaults(handler=_recipes)
