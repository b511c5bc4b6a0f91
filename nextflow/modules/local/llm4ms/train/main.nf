process LLM4MS_TRAIN {
    tag "$meta.id"
    label 'process_medium'
    // The gpu profile gives this label a GPU; without it the same task trains on the CPU (slowly).
    label 'process_gpu'

    container 'ghcr.io/llm4ms/llm4ms:0.1.0'

    input:
    tuple val(meta), path(spectra)
    path init_adapter // the adapter folder of an earlier stage, or [] to start from the bare backbone

    output:
    tuple val(meta), path("${prefix}_adapter"), emit: adapter
    path "versions.yml"                       , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    def device = task.accelerator ? 'cuda' : 'cpu'
    def init = init_adapter ? "--init-adapter ${init_adapter}" : ''
    """
    llm4ms train \\
        $args \\
        $init \\
        --device $device \\
        --threads $task.cpus \\
        --quiet \\
        -o ${prefix}_adapter \\
        $spectra

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    mkdir ${prefix}_adapter
    touch ${prefix}_adapter/adapter_config.json
    touch ${prefix}_adapter/llm4ms_adapter.json
    touch ${prefix}_adapter/train_log.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        llm4ms: \$(llm4ms --version | sed 's/^llm4ms, version //')
    END_VERSIONS
    """
}
