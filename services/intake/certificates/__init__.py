"""Learning-outcome certificates (学习成果证明): signed credentials, their offline QR payload, the status list, the keys, the verdict."""
