from zaobot.cli import main

main()
