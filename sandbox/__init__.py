"""The sandbox restaurant: menu, simulated guests and history, replay traffic. Development and demo only."""
