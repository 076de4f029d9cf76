/**
 * Importing this module registers every fused kernel for tfjs's webgpu backend (one dispatch
 * where tfjs ops would take several); the lab's worker and Node's Dawn setup import it.
 */
import './layer-norm-webgpu';
import './masked-softmax-webgpu';
import './bias-gelu-webgpu';
import './decode-attention-webgpu';
import './adamw-webgpu';
import './attention-webgpu';
import './token-stats-webgpu';
import './sample-tokens-webgpu';
import './decode-linear-webgpu';
