from faceedit.cli import console_main

console_main()
