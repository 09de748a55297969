"""Automated deployment of slaflow's executors: ``slaflow deploy lambda`` (``orchestrator.deploy.lambdas``)
and the deployment package it uploads (``orchestrator.deploy.package``)."""
