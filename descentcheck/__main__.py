from descentcheck.cli import run

run()
