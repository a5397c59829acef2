"""The `seqgan` subcommands, one module per command family. Each module has `register(sub)`,
which adds its parser(s) to the top-level subparsers and sets `func` on them."""
