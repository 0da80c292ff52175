"""Sequencer: owns campaigns and their steps; emits StepDue and LeadCompleted (steps arrive with sending)."""
