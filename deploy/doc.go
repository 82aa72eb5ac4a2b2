// Package deploy holds no code of the product: its tests check the deployment
// artefacts (the Helm chart under helm/, the repository's docker-compose.yml and
// Dockerfile) with the loaders the real tools use. It is a module of its own so that
// Helm's and Compose's dependencies never reach the bridge's go.mod.
package deploy
