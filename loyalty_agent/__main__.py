from loyalty_agent.cli import app

app()
